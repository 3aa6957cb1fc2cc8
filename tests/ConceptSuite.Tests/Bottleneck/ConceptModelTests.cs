using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Concepts;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;
using N = ConceptSuite.Core.Concepts.ConceptModel.TensorNames;

namespace ConceptSuite.Tests.Bottleneck;

/// <summary>The shared concept head (Core/Concepts/ConceptModel) on hand-computed vectors.</summary>
public class ConceptModelTests
{
    // D = 2, K = 2, C = 2. W_c = [[3, 4], [0, 2]], b_c = [-5, 1]; head W_h = [[1, -1], [0, 2]], b_h = [0.5, 0].
    static ConceptModel Tiny(string activation = ConceptActivations.SignedDistance, bool residual = false)
    {
        var t = new Dictionary<string, Tensor>
        {
            [N.InputMean] = zeros(2), [N.InputScale] = ones(2),
            [N.ConceptWeight] = tensor(new float[] { 3, 4, 0, 2 }).reshape(2, 2),
            [N.ConceptBias] = tensor(new float[] { -5, 1 }),
            [N.ConceptMean] = zeros(2), [N.ConceptScale] = ones(2),
            [N.HeadWeight] = tensor(new float[] { 1, -1, 0, 2 }).reshape(2, 2),
            [N.HeadBias] = tensor(new float[] { 0.5f, 0 }),
        };
        if (residual)
        {
            t[N.ResidualWeight] = tensor(new float[] { 1, 0, 0, -1 }).reshape(2, 2);
            t[N.ResidualBias] = tensor(new float[] { 0, 0.25f });
        }
        var spec = new ConceptModelSpec
        {
            ModelType = "tiny", InputDim = 2, ConceptNames = ["a", "b"], ClassNames = ["p", "q"],
            ConceptActivation = activation, HasResidual = residual,
        };
        return new ConceptModel(spec, t);
    }

    [Fact]
    public void SignedDistanceConceptsAndLogitsMatchHandComputedValues()
    {
        using var m = Tiny();
        using var x = tensor(new float[] { 1, 2 }).reshape(1, 2);
        var f = m.Forward(x);
        // a = [3+8-5, 4+1] = [6, 5]; ‖w‖ = [5, 2]; c = [1.2, 2.5]; logits = [1.2-2.5+0.5, 5] = [-0.8, 5].
        Assert.Equal(new[] { 1.2f, 2.5f }, f.Concepts.data<float>().ToArray(), new FloatComparer(1e-6f));
        Assert.Equal(new[] { -0.8f, 5f }, f.Logits.data<float>().ToArray(), new FloatComparer(1e-6f));
    }

    [Fact]
    public void ContributionsPlusBiasAndResidualSumToTheLogit()
    {
        using var m = Tiny(residual: true);
        using var x = tensor(new float[] { 1, 2, -1, 0.5f, 0, 3 }).reshape(3, 2);
        var f = m.Forward(x);
        var cls = f.Logits.argmax(1);
        var contrib = m.Contributions(f.Concepts, cls);
        var rebuilt = contrib.sum(1) + m.HeadBias.index_select(0, cls) + f.ResidualLogits!.gather(1, cls.unsqueeze(1)).squeeze(1);
        var logit = f.Logits.gather(1, cls.unsqueeze(1)).squeeze(1);
        Assert.True(rebuilt.allclose(logit, 1e-5, 1e-5));
        Assert.True(m.ContributionsAll(f.Concepts).sum(2).add(m.HeadBias).add(f.ResidualLogits).allclose(f.Logits, 1e-5, 1e-5));
    }

    [Fact]
    public void InterveneReplacesConceptColumnsAndValidatesProbabilities()
    {
        using var m = Tiny(ConceptActivations.Sigmoid);
        using var x = tensor(new float[] { 1, 2 }).reshape(1, 2);
        var (c, logits) = m.Intervene(x, [1], tensor(new float[] { 0.25f }));
        var c0 = (float)(1 / (1 + Math.Exp(-6)));
        Assert.Equal(new[] { c0, 0.25f }, c.data<float>().ToArray(), new FloatComparer(1e-6f));
        Assert.Equal(new[] { c0 - 0.25f + 0.5f, 0.5f }, logits.data<float>().ToArray(), new FloatComparer(1e-6f));
        var e = Assert.Throws<InvalidInputException>(() => m.Intervene(x, [0], tensor(new float[] { 1.5f })));
        Assert.Equal("values", e.Field);
        Assert.Equal("concepts", Assert.Throws<InvalidInputException>(() => m.ConceptIndex("nope")).Field);
    }

    [Fact]
    public void EditScalesOneHeadColumnAndRecordsTheEdit()
    {
        using var m = Tiny();
        using var edited = m.Edit(new Dictionary<int, double> { [1] = 0 });
        using var x = tensor(new float[] { 1, 2 }).reshape(1, 2);
        // Without concept b: logits = [1.2 + 0.5, 0].
        Assert.Equal(new[] { 1.7f, 0f }, edited.Forward(x).Logits.data<float>().ToArray(), new FloatComparer(1e-6f));
        Assert.Equal(0.0, edited.Spec.Edits["b"]);
        Assert.Empty(m.Spec.Edits);
    }

    [Fact]
    public async Task SavedModelLoadsBackWithTheSameOutputs()
    {
        var dir = Path.Combine(Path.GetTempPath(), "cs-cm-" + Guid.NewGuid().ToString("N"));
        try
        {
            var store = new ArtifactStore(dir);
            using var m = Tiny(residual: true);
            var info = await m.SaveAsync(store);
            Assert.Equal("bottleneck", info.Ref.Kind);
            using var loaded = ConceptModel.Load(store, info.Ref.Id, null, "model");
            using var x = tensor(new float[] { 1, 2, -1, 0.5f }).reshape(2, 2);
            Assert.Equal(["a", "b"], loaded.ConceptNames);
            Assert.True(loaded.HasResidual);
            foreach (var (name, t) in m.Tensors)
                Assert.True(loaded.Tensors[name].allclose(t), $"{name}: {string.Join(",", loaded.Tensors[name].data<float>().ToArray())} vs {string.Join(",", t.data<float>().ToArray())}");
            Assert.True(loaded.Forward(x).Logits.allclose(m.Forward(x).Logits));
        }
        finally { Directory.Delete(dir, true); }
    }
}

sealed class FloatComparer(float tol) : IEqualityComparer<float>
{
    public bool Equals(float a, float b) => Math.Abs(a - b) <= tol;
    public int GetHashCode(float v) => 0;
}
