using ConceptSuite.Core.Data;
using ConceptSuite.Discovery.Abstractions;
using ConceptSuite.Discovery.Methods;
using ConceptSuite.Discovery.Naming;
using ConceptSuite.Embedding.Text;
using ConceptSuite.Tests.Bottleneck;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ConceptSuite.Tests.Discovery;

/// <summary>
/// The short version of the naming benchmark (tests/Benchmarks -- naming): on concept-shapes, with
/// captions that say every factor value, NMF concepts of ResNet18 pooled features are named by their
/// code–caption covariance and matched to the factor value they detect best; the well-matched ones
/// (AUC ≥ 0.9) must be named by that value's word or a WordNet synonym.
/// </summary>
public sealed class NamingGroundTruthTests(ITestOutputHelper output)
{
    [Fact]
    public async Task ConceptShapesConceptsAreNamedByTheFactorValueTheyDetect()
    {
        var (train, trainData) = await BackboneFeatures.ConceptShapesAsync(600, 1);
        var (test, testData) = await BackboneFeatures.ConceptShapesAsync(300, 2);
        using var scope = NewDisposeScope();      // opened after the awaits: a scope belongs to one thread
        using var _ = trainData;
        using var __ = testData;
        using var text = new MiniLmEncoder();
        var synsets = WordNetSynsets.Read();

        var captions = text.Encode(trainData.Captions!, default);
        var words = CaptionVocabulary.Words(trainData.Captions!);
        // Every factor value is a caption word (texture "solid" included), and no template word is.
        var values = ConceptShapes.ConceptNames.Select(n => n.Replace(" background", "")).ToList();
        Assert.Equal(values.Order(), words.Order());
        var vocabulary = text.Encode(words, default);

        using var nmf = DictionaryMethods.Create("nmf", 32, null);
        nmf.Fit(new TensorRowSource(train["pool"]), FitContext.Default(0));
        var codes = nmf.Encode(train["pool"]);
        var testCodes = nmf.Encode(test["pool"]).t().contiguous();
        var activations = Enumerable.Range(0, 32).Select(c => testCodes[c].data<float>().ToArray()).ToList();
        var labels = testData.ConceptLabels!.t().contiguous();
        var truth = Enumerable.Range(0, values.Count).Select(v => labels[v].data<float>().ToArray().Select(x => x > 0.5f).ToArray()).ToList();
        var accepted = values.Select(v => (IReadOnlySet<string>)synsets.Accepted(v)).ToList();

        NamingAccuracy.Result Score(NamingMode mode) =>
            NamingAccuracy.Score(activations, truth, accepted,
                ConceptNamer.NameWith(mode, nmf.Atoms(), train["pool"], codes, captions, vocabulary, false, 1).Select(n => words[(int)n[0]]).ToList());
        var direction = Score(NamingMode.Direction);
        var bridge = Score(NamingMode.Bridge);
        foreach (var m in direction.Concepts.OrderByDescending(m => m.Auc))
            output.WriteLine($"concept {m.Concept}: {m.Name} ~ {values[m.Value]} AUC {m.Auc:F3}{(m.Correct ? "" : " (wrong)")}");
        output.WriteLine($"direction: accuracy {direction.Accuracy:F3} ({direction.NamedRight}/{direction.WellMatched}), matched {direction.Matched:F3}, right over all {direction.Concepts.Count(m => m.Correct)}/32; " +
                         $"bridge: accuracy {bridge.Accuracy:F3} ({bridge.NamedRight}/{bridge.WellMatched}), right over all {bridge.Concepts.Count(m => m.Correct)}/32");

        // Measured (600 train / 300 test images, 32 NMF concepts): 5 concepts well matched (0.156), all 5
        // named right (accuracy 1.0), and 24 of the 32 named by the value they detect best; the bridged
        // atoms name 4 of the 5 and 18 of the 32.
        Assert.True(direction.WellMatched >= 3, $"{direction.WellMatched} well-matched concepts");
        Assert.True(direction.Accuracy >= 0.8, $"naming accuracy {direction.Accuracy:F3}");
        Assert.True(direction.Concepts.Count(m => m.Correct) >= 20, $"{direction.Concepts.Count(m => m.Correct)} of 32 named by their best value");
        Assert.True(direction.Concepts.Count(m => m.Correct) >= bridge.Concepts.Count(m => m.Correct),
            "the code–caption covariance names at least as many concepts right as the bridged atom");
    }
}
