using ConceptSuite.Core.Tensors;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Generate.Evaluation;
using ConceptSuite.Generate.Model;
using ConceptSuite.Generate.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Tests.Generate;

public class GeneratorArtifactTests
{
    [Fact]
    public async Task ASavedGeneratorLoadsWithIdenticalWeightsAndOutputs()
    {
        var dir = Path.Combine(Path.GetTempPath(), "cs-gen-" + Guid.NewGuid().ToString("N"));
        try
        {
            var store = new ArtifactStore(dir);
            var vocab = new ConceptVocabulary(["red", "green", "square"]);
            using var gen = new ConceptGenerator(GeneratorConfig.Preset("tiny") with { ImageSize = 8 }, vocab);
            TorchRandom.Initialize(gen.Model, 4);
            using var clf = TorchRandom.Initialize(new ConceptClassifier(vocab.Groups, 8), 5);
            var info = await GeneratorArtifact.SaveAsync(store, gen, clf);
            using var loaded = GeneratorArtifact.Load(store, info.Ref.Id, CPU);
            var after = loaded.Generator.Model.named_parameters().ToDictionary(x => x.name, x => x.parameter);
            foreach (var (name, p) in gen.Model.named_parameters())
                Assert.True(p.equal(after[name]).all().item<bool>(),
                    $"{name}: {string.Join(",", p.flatten()[..3].data<float>().ToArray())} vs {string.Join(",", after[name].flatten()[..3].data<float>().ToArray())}");
            using var a = gen.Generate(["a red square"], [3], 3, 2.0);
            using var b = loaded.Generator.Generate(["a red square"], [3], 3, 2.0);
            Assert.False(a.isnan().any().item<bool>());
            Assert.True((a - b).abs().max().item<float>() < 1e-6);
        }
        finally { Directory.Delete(dir, true); }
    }
}
