using ConceptSuite.Core.Tensors;
using ConceptSuite.Embedding.Models;
using ConceptSuite.Generate.Evaluation;
using ConceptSuite.Generate.Model;
using ConceptSuite.Generate.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Tests.Core;

/// <summary>Seeded weights from a generator of the job's own, never from libtorch's process-wide one.</summary>
public sealed class TorchRandomTests
{
    static Dictionary<string, float[]> Weights(nn.Module m) =>
        m.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().cpu().to_type(ScalarType.Float32).contiguous().data<float>().ToArray());

    static IEnumerable<(string Name, Func<long, nn.Module> Build)> Models()
    {
        yield return ("cnn", seed => TorchRandom.Initialize(new SmallCnn(1, 28, 28, 10), seed));
        yield return ("vit", seed => TorchRandom.Initialize(new SmallVit(1, 28, 28, 10), seed));
        var vocab = new ConceptVocabulary(["red", "green", "square", "circle"]);
        yield return ("unet", seed => TorchRandom.Initialize(new ConceptUNet(GeneratorConfig.Preset("tiny") with { ImageSize = 8 }, vocab.Size), seed));
        yield return ("classifier", seed => TorchRandom.Initialize(new ConceptClassifier(new Dictionary<string, string[]> { ["colour"] = ["red", "green"] }, 8), seed));
    }

    [Fact]
    public void EveryBuiltInModelGetsTheSameWeightsFromTheSameSeedWhateverElseDraws()
    {
        foreach (var (name, build) in Models())
        {
            using var a = build(7);
            using (randn(1000)) { }                      // another job drawing from the default generator
            using var b = build(7);
            using var c = build(8);
            var (wa, wb, wc) = (Weights(a), Weights(b), Weights(c));
            Assert.Equal(wa.Keys, wb.Keys);
            foreach (var k in wa.Keys) Assert.True(wa[k].SequenceEqual(wb[k]), $"{name}.{k} differs between two builds with seed 7");
            // Every parameter with a random law differs with the seed; norms' γ = 1, β = 0 and zero biases do not.
            var drawn = a.named_parameters().Select(p => p.name).Where(k => wa[k].Distinct().Count() > 1).ToList();
            Assert.NotEmpty(drawn);
            foreach (var k in drawn) Assert.False(wa[k].SequenceEqual(wc[k]), $"{name}.{k} is the same with seeds 7 and 8");
        }
    }

    [Fact]
    public void LayersGetPyTorchsDefaultLaws()
    {
        using var cnn = TorchRandom.Initialize(new SmallCnn(1, 28, 28, 10), 1);
        var w = Weights(cnn);
        // fc: Linear(32·7·7 = 1568 → 128): weight and bias U(±1/√1568); a uniform's std is bound/√3.
        double bound = 1 / Math.Sqrt(1568);
        Assert.All(w["fc.weight"], v => Assert.InRange(v, -bound, bound));
        Assert.All(w["fc.bias"], v => Assert.InRange(v, -bound, bound));
        double std = Math.Sqrt(w["fc.weight"].Select(v => (double)v * v).Average());
        Assert.InRange(std, 0.98 * bound / Math.Sqrt(3), 1.02 * bound / Math.Sqrt(3));
        // conv1: Conv2d(1 → 16, 3×3): fan_in 9, bound 1/3.
        Assert.All(w["conv1.weight"], v => Assert.InRange(v, -1.0 / 3, 1.0 / 3));
        Assert.True(w["conv1.weight"].Max() > 0.25, "conv1 weights should fill U(±1/3)");

        using var vit = TorchRandom.Initialize(new SmallVit(1, 28, 28, 10), 1);
        var v = Weights(vit);
        double posStd = Math.Sqrt(v["pos"].Select(x => (double)x * x).Average());
        Assert.InRange(posStd, 0.017, 0.023);                         // N(0, 0.02²), 17·64 draws
        Assert.All(v["norm.weight"], x => Assert.Equal(1f, x));
        Assert.All(v["norm.bias"], x => Assert.Equal(0f, x));
    }

    sealed class Unknown : nn.Module<Tensor, Tensor>
    {
        readonly TorchSharp.Modules.Parameter scale = nn.Parameter(ones(3));
        public Unknown() : base("unknown") => RegisterComponents();
        public override Tensor forward(Tensor x) => x * scale;
    }

    [Fact]
    public void AModuleWhoseOwnParametersItCannotDrawIsRefusedByName()
    {
        using var m = new Unknown();
        var e = Assert.Throws<InvalidOperationException>(() => TorchRandom.Initialize(m, 1));
        Assert.Contains("Unknown", e.Message);
        Assert.Contains("scale", e.Message);
    }
}
