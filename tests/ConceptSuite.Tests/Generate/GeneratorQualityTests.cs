using ConceptSuite.Core.Tensors;
using ConceptSuite.Generate.Data;
using ConceptSuite.Generate.Editing;
using ConceptSuite.Generate.Evaluation;
using ConceptSuite.Generate.Model;
using ConceptSuite.Generate.Text;
using ConceptSuite.Generate.Training;
using TorchSharp;

namespace ConceptSuite.Tests.Generate;

/// <summary>
/// A tiny generator trained inside the test (8×8 colour-only concept shapes: four colours, large
/// squares on plain grey; 16-channel UNet; TrainingSteps steps of 32) and its concept classifier.
/// </summary>
public sealed class TinyColourGenerator : IDisposable
{
    public const int TrainingSteps = 300;
    public const int SamplesPerPrompt = 32;
    public const int SamplingSteps = 10;
    public const double Guidance = 3.0;

    public ConceptGenerator Generator { get; private set; } = null!;
    public ConceptClassifier Classifier { get; private set; } = null!;
    public Dictionary<string, double> ClassifierAccuracy { get; private set; } = null!;

    public TinyColourGenerator()
    {
        // One intra-op thread: on a shared two-core machine two OpenMP threads spend most of their
        // time in barriers (measured 3 s vs 0.17 s per training step here). The pool thread gets its
        // own count back afterwards, for the tests that run on it next.
        int threads = torch.get_num_threads();
        torch.set_num_threads(1);
        try { Train(); }
        finally { torch.set_num_threads(threads); }
    }

    void Train()
    {
        var scenes = ConceptImages.ColourOnly(8);
        using var data = ConceptImages.FromConceptShapes(512, 11, scenes);
        using var heldOut = ConceptImages.FromConceptShapes(256, 12, scenes);
        var vocab = new ConceptVocabulary(data.ConceptNames);
        Classifier = TorchRandom.Initialize(new ConceptClassifier(vocab.Groups, 8), 5);
        ClassifierAccuracy = Classifier.Fit(data, heldOut, epochs: 2, seed: 5);
        Generator = new ConceptGenerator(GeneratorConfig.Preset("tiny") with { ImageSize = 8 }, vocab);
        TorchRandom.Initialize(Generator.Model, 3);
        GeneratorTrainer.Train(Generator, data, new TrainingOptions { Steps = TrainingSteps, BatchSize = 32, LearningRate = 4e-3, Seed = 3 });
    }

    public void Dispose() { Generator.Dispose(); Classifier.Dispose(); }
}

/// <summary>
/// Runs alone: the fixture's weight initialisation draws from libtorch's global generator, which
/// tests running in parallel would also draw from. The trained generator is the same in every
/// process (its batches come from a Random seeded by (seed, step)); the figures below are that
/// generator's, and the earlier ranges were measured while the batch seed still varied per process.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GeneratorQualityCollection { public const string Name = "generator quality"; }

[Collection(GeneratorQualityCollection.Name)]
public class GeneratorQualityTests(TinyColourGenerator tiny, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<TinyColourGenerator>
{
    static readonly string[] Colours = ["red", "green", "blue", "yellow"];

    List<string> Prompts() => Colours.Select(c => ConceptVocabulary.BuildPrompt([c])).ToList();

    [Fact]
    public void TheConceptClassifierReadsColourFromRealImages() =>
        Assert.True(tiny.ClassifierAccuracy["colour"] > 0.95, $"held-out colour accuracy {tiny.ClassifierAccuracy["colour"]:F3}");

    [Fact]
    public void TheTrainedGeneratorProducesTheRequestedColourWellAboveChance()
    {
        var report = ConceptRates.Evaluate(tiny.Generator, tiny.Classifier, Prompts(), TinyColourGenerator.SamplesPerPrompt,
            TinyColourGenerator.SamplingSteps, TinyColourGenerator.Guidance, seed: 100);
        var mean = report.Concepts.Average(c => c.Rate);
        output.WriteLine($"mean colour rate {mean:F3}; per colour {string.Join(", ", report.Concepts.Select(c => $"{c.Concept} {c.Rate:F3}"))}");
        // Chance is 0.25. Measured: mean 0.859 (red 0.844, green 0.844, blue 0.938, yellow 0.812;
        // 0.852-0.906 over four earlier generators); floor 0.6.
        Assert.True(mean >= 0.6, $"mean colour rate {mean:F3}; per colour {string.Join(", ", report.Concepts.Select(c => $"{c.Concept} {c.Rate:F3}"))}");
    }

    EraseReport EraseRed(EraseSpec spec)
    {
        using var edited = new ConceptGenerator(tiny.Generator.Config, tiny.Generator.Vocabulary); // weights copied next
        edited.Model.load_state_dict(tiny.Generator.Model.state_dict());
        var eraser = ConceptErasers.Family.Create("realera", null, "eraser");
        var plan = eraser.Plan(edited, spec);
        ConceptErasers.Apply(edited, plan, eraser.ClosedForm);
        var report = EraseReport.Measure(tiny.Generator, edited, tiny.Classifier, plan, spec.Concepts,
            TinyColourGenerator.SamplesPerPrompt, TinyColourGenerator.SamplingSteps, TinyColourGenerator.Guidance, seed: 200);
        output.WriteLine(Detail(report));
        return report;
    }

    static string Detail(EraseReport r)
    {
        var red = r.Erased.Single();
        return $"red {red.RateBefore:F3} -> {red.RateAfter:F3} (neutral-prompt rate {red.NeutralRate:F3}); "
            + string.Join(", ", r.Preserved.Select(c => $"{c.Concept} {c.RateBefore:F3} -> {c.RateAfter:F3}")) + $"; max drift {r.MaxPreserveDrift:F3}";
    }

    [Fact]
    public void ErasingRedDropsItsRateToTheNeutralPromptRateWhileOtherColoursStay()
    {
        var report = EraseRed(new EraseSpec { Concepts = ["red"], Seed = 1 });
        var red = report.Erased.Single();
        // Rates are over 32 generations per colour (one generation moves a rate by 0.031); chance
        // is 0.25. Measured: red 0.625 -> 0.406, exactly the original generator's rate of red for
        // the neutral prompt "a shape" with the same seeds (0.406): the edit makes "a red shape" as
        // red as not asking for a colour, and what stays above chance (0.156) is that generator's
        // own share of red when no colour is asked for. Green, blue, yellow: max drift 0.000.
        // (Four earlier generators: before 0.594-0.812, after 0.312-0.406, always the neutral rate.)
        // Bounds: red after within 0.094 (three generations) of the neutral-prompt rate and at most
        // 0.19 above chance, down by at least 0.15 (measured 0.219); every other colour within
        // 0.063 (two generations).
        Assert.True(Math.Abs(red.RateAfter - red.NeutralRate) <= 0.094, Detail(report));
        Assert.True(red.RateAfter - red.Chance <= 0.19, Detail(report));
        Assert.True(red.RateBefore - red.RateAfter >= 0.15, Detail(report));
        Assert.True(report.MaxPreserveDrift <= 0.063, Detail(report));
    }

    [Fact]
    public void ErasingRedToGreenLeavesGreenItself()
    {
        var report = EraseRed(new EraseSpec { Concepts = ["red"], Targets = ["green"], Seed = 1 });
        var red = report.Erased.Single();
        // Measured: red 0.625 -> 0.000; max drift of green/blue/yellow 0.031 (yellow 0.750 ->
        // 0.781); three earlier generators: red 0.625-0.812 -> 0.000, drift 0.000-0.031. The target keeps its own map (it is in the preserve set), so
        // "a green shape" stays; "a red shape" now draws green, far below chance.
        Assert.True(red.RateAfter <= 0.125, Detail(report));
        Assert.True(report.MaxPreserveDrift <= 0.063, Detail(report));
    }
}
