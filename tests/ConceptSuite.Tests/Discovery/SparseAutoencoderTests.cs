using ConceptSuite.Discovery.Abstractions;
using ConceptSuite.Discovery.Methods;
using ConceptSuite.Discovery.Metrics;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Tests.Discovery;

public class SparseAutoencoderTests
{
    static SparseAutoencoder Make(string method, int c, params (string, string)[] options) =>
        (SparseAutoencoder)DictionaryMethods.Create(method, c, options.ToDictionary(o => o.Item1, o => o.Item2));

    [Fact]
    public void BatchTopKKeepsTheBatchsLargestValues()
    {
        using var pre = tensor(new float[] { 1, -2, 3, -4, -5, 6, -7, 8 }).reshape(2, 4);
        using var z = BatchTopKSae.Select(pre, 2);
        Assert.Equal(new float[] { 1, 0, 3, 0, 0, 6, 0, 8 }, z.data<float>().ToArray());
    }

    [Fact]
    public void BatchTopKTrainingStepUsesTheBatchRuleAndSetsTheThreshold()
    {
        // Identity encoder: pre = x, so the training activation is exactly BatchTopK(x).
        using var sae = (BatchTopKSae)Make("batchtopk_sae", 4, ("k", "2"), ("normalize", "false"));
        sae.LoadState(IdentityState(4, 4, square: true));
        using var x = tensor(new float[] { 1, -2, 3, -4, -5, 6, -7, 8 }).reshape(2, 4);
        Assert.Equal(-1, sae.Threshold);
        // Inference before any threshold falls back to per-sample TopK.
        using var z0 = sae.Encode(x);
        Assert.Equal(new float[] { 1, 0, 3, 0, 0, 6, 0, 8 }, z0.data<float>().ToArray());
        sae.Threshold = 2.5;
        using var z1 = sae.Encode(x);
        Assert.Equal(new float[] { 0, 0, 3, 0, 0, 6, 0, 8 }, z1.data<float>().ToArray());
    }

    /// <summary>W_enc = [I, −I] (or I), W_dec = its transpose, zero biases.</summary>
    static Dictionary<string, Tensor> IdentityState(int d, int c, bool square = false)
    {
        var eye = torch.eye(d);
        var wenc = square ? eye : cat([eye, -eye], 1);       // [d, c]
        return new()
        {
            ["W_enc"] = wenc, ["b_enc"] = zeros(c), ["W_dec"] = wenc.t().contiguous(), ["b_dec"] = zeros(d),
        };
    }

    [Theory]
    [InlineData("topk_sae")]
    [InlineData("relu_sae")]
    [InlineData("batchtopk_sae")]
    [InlineData("jumprelu_sae")]
    public void IdentitySaeHasRSquaredOneAndL0EqualToInputWidth(string method)
    {
        const int d = 6;
        var opts = method switch
        {
            "topk_sae" or "batchtopk_sae" => new[] { ("k", $"{d}") },
            _ => Array.Empty<(string, string)>(),
        };
        using var sae = Make(method, 2 * d, opts);
        var state = IdentityState(d, 2 * d);
        if (method == "jumprelu_sae") state["log_threshold"] = full(2 * d, (float)Math.Log(1e-6));
        if (method == "batchtopk_sae") state["threshold"] = tensor(new[] { 0.0 });
        sae.LoadState(state);
        using var g = new Generator(1);
        using var x = randn([64, d], generator: g);
        using var z = sae.Encode(x);
        using var xh = sae.Decode(z);
        Assert.Equal(1.0, DictionaryMetrics.R2(x, xh), 6);
        Assert.Equal(d, DictionaryMetrics.L0(z), 9);
    }

    [Fact]
    public void TopKSaeLearnsAPlantedSparseDictionary()
    {
        var (x, atoms) = DiscoveryTestData.PlantedSparse(4096, 32, 16, 3, seed: 2);
        using var _x = x; using var _a = atoms;
        using var sae = Make("topk_sae", 32, ("k", "3"), ("epochs", "40"), ("batch_size", "256"), ("lr", "0.003"));
        sae.Fit(new TensorRowSource(x), FitContext.Default(0));
        var m = DictionaryMetrics.Evaluate(sae, new TensorRowSource(x), long.MaxValue);
        Assert.True(m.L0 <= 3);
        // Measured R² 0.97-0.99 on this data; the bound leaves room for platform differences.
        Assert.True(m.R2 > 0.9, $"R² {m.R2}");
        using var learned = sae.Atoms();
        // Each planted atom matched (Hungarian, |cos|) to a learned one.
        double recovery = DictionaryMetrics.Stability(atoms, learned);
        Assert.True(recovery > 0.8, $"atom recovery {recovery}");
    }

    [Theory]
    [InlineData("topk_sae")]
    [InlineData("batchtopk_sae")]
    [InlineData("relu_sae")]
    [InlineData("jumprelu_sae")]
    [InlineData("archetypal_sae")]
    public void SavedModelEncodesAndDecodesLikeTheTrainedOne(string method)
    {
        // Data far from zero mean and unit scale, so the folded normalisation matters.
        var (x0, _) = DiscoveryTestData.PlantedSparse(1024, 16, 12, 3, seed: 8);
        using var x = x0 * 7 + 3;
        var opts = new List<(string, string)> { ("epochs", "3"), ("batch_size", "128") };
        if (method is "topk_sae" or "batchtopk_sae" or "archetypal_sae") opts.Add(("k", "4"));
        if (method == "archetypal_sae") opts.Add(("candidates", "256"));
        using var trained = Make(method, 12, opts.ToArray());
        trained.Fit(new TensorRowSource(x), FitContext.Default(4));
        var state = trained.SaveState();
        using var loaded = Make(method, 12, opts.ToArray());
        loaded.LoadState(state);
        using var z1 = trained.Encode(x);
        using var z2 = loaded.Encode(x);
        Assert.True((z1 - z2).abs().max().item<float>() < 1e-3f * Math.Max(1, z1.abs().max().item<float>()), "codes differ");
        Assert.Equal((z1 != 0).sum().item<long>(), (z2 != 0).sum().item<long>());
        using var d1 = trained.Decode(z1);
        using var d2 = loaded.Decode(z1);
        Assert.True((d1 - d2).abs().max().item<float>() < 1e-3f * Math.Max(1, d1.abs().max().item<float>()), "decodes differ");
        if (trained is BatchTopKSae bt)
        {
            Assert.True(bt.Threshold > 0);
            Assert.Equal(bt.Threshold, ((BatchTopKSae)loaded).Threshold);
        }
    }

    [Fact]
    public void DecoderAtomsStayUnitNorm()
    {
        var (x, _) = DiscoveryTestData.PlantedSparse(512, 16, 8, 2, seed: 12);
        using var _x = x;
        using var sae = Make("topk_sae", 8, ("k", "2"), ("epochs", "2"), ("batch_size", "64"), ("normalize", "false"));
        sae.Fit(new TensorRowSource(x), FitContext.Default());
        using var atoms = sae.Atoms();
        Assert.True((atoms.norm(1) - 1).abs().max().item<float>() < 1e-5f);
    }

    [Fact]
    public void DeadLatentsAreTrackedAndAuxKRevivesThem()
    {
        // 64 latents for data living on 4 atoms with k = 1: most latents never win TopK.
        var (x, _) = DiscoveryTestData.PlantedSparse(2048, 16, 4, 1, seed: 13);
        using var _x = x;
        using var noAux = Make("topk_sae", 64, ("k", "1"), ("epochs", "3"), ("batch_size", "128"), ("auxk", "0"), ("dead_tokens", "512"));
        noAux.Fit(new TensorRowSource(x), FitContext.Default());
        Assert.True(noAux.DeadLatents > 32, $"dead {noAux.DeadLatents}");
        using var aux = Make("topk_sae", 64, ("k", "1"), ("epochs", "3"), ("batch_size", "128"), ("auxk", "32"), ("dead_tokens", "512"));
        aux.Fit(new TensorRowSource(x), FitContext.Default());
        Assert.True(aux.DeadLatents <= noAux.DeadLatents, $"AuxK dead {aux.DeadLatents} vs without {noAux.DeadLatents}");
    }

    [Fact]
    public void JumpReluLearnsThresholdsThroughTheStraightThroughEstimator()
    {
        var (x, _) = DiscoveryTestData.PlantedSparse(1024, 16, 8, 2, seed: 14);
        using var _x = x;
        using var sae = Make("jumprelu_sae", 8, ("epochs", "3"), ("batch_size", "128"), ("l0", "0.05"));
        sae.Fit(new TensorRowSource(x), FitContext.Default());
        using var th = sae.SaveState()["log_threshold"];
        // Every θ starts at log(0.1); a gradient through the STE moves them.
        Assert.True((th - (float)Math.Log(0.1)).abs().max().item<float>() > 1e-3f);
    }

    [Fact]
    public void ArchetypalAtomsAreConvexMixturesWithBoundedRelaxation()
    {
        var (x, _) = DiscoveryTestData.PlantedSparse(1024, 16, 8, 2, seed: 15);
        using var _x = x;
        using var sae = (ArchetypalSae)Make("archetypal_sae", 8, ("k", "2"), ("epochs", "3"), ("batch_size", "128"), ("relax", "0.05"), ("candidates", "128"));
        sae.Fit(new TensorRowSource(x), FitContext.Default());
        using var mix = sae.Mixing();
        Assert.True(mix.min().item<float>() >= 0);
        Assert.True((mix.sum(1) - 1).abs().max().item<float>() < 1e-5f);
        Assert.True(sae.MaxRelaxationNorm() <= 0.05 + 1e-6);
    }

    [Fact]
    public void OnePassTrainsSeveralDictionariesLikeSeparatePasses()
    {
        var (x, _) = DiscoveryTestData.PlantedSparse(1024, 16, 8, 2, seed: 16);
        using var _x = x;
        var src = new TensorRowSource(x);
        using var a = Make("topk_sae", 8, ("k", "2"), ("epochs", "2"), ("batch_size", "128"));
        using var b = Make("topk_sae", 8, ("k", "4"), ("epochs", "2"), ("batch_size", "128"));
        IncrementalTrainer.Train([a, b], src, FitContext.Default(5));
        using var alone = Make("topk_sae", 8, ("k", "2"), ("epochs", "2"), ("batch_size", "128"));
        IncrementalTrainer.Train([alone], src, FitContext.Default(5));
        using var wa = a.Atoms();
        using var wl = alone.Atoms();
        // Same seed, same batches: the shared pass gives the same model as a pass of its own.
        Assert.True((wa - wl).abs().max().item<float>() < 1e-5f);
        Assert.Equal(a.Steps, b.Steps);
    }
}

public class TopKSparseStepTests
{
    static SparseAutoencoder Make(string method, params (string, string)[] options) =>
        (SparseAutoencoder)DictionaryMethods.Create(method, 512, options.ToDictionary(o => o.Item1, o => o.Item2));

    [Theory]
    [InlineData("topk_sae", "0")]   // reconstruction only
    [InlineData("topk_sae", "24")]  // with AuxK: dead_tokens = 1 makes every latent that did not fire in the batch dead
    [InlineData("batchtopk_sae", "0")]
    [InlineData("batchtopk_sae", "24")]
    public void TheSparseStepGivesAutogradsLossAndGradients(string method, string auxk)
    {
        using var scope = NewDisposeScope();
        var g = new Generator(11);
        var x = randn([300, 20], generator: g) * 3 + 1;
        var opts = new[] { ("k", "6"), ("auxk", auxk), ("dead_tokens", "1"), ("aux_coef", "0.5") };
        using SparseAutoencoder a = Make(method, opts), b = Make(method, opts), plain = Make(method, ("k", "6"), ("auxk", "0"));
        a.Begin(new TensorRowSource(x), FitContext.Default());
        b.Begin(new TensorRowSource(x), FitContext.Default());
        plain.Begin(new TensorRowSource(x), FitContext.Default());
        // The AuxK case really has dead latents: its loss exceeds the reconstruction loss alone.
        var (reconstruction, _) = plain.LossAndGradients(x.narrow(0, 0, 100), sparse: true);
        for (int step = 0; step < 3; step++)
        {
            var batch = x.narrow(0, step * 100, 100);
            var (lossSparse, sparse) = a.LossAndGradients(batch, sparse: true);
            var (lossDense, dense) = b.LossAndGradients(batch, sparse: false);
            Assert.Equal(lossDense, lossSparse, 1e-5 * Math.Abs(lossDense));
            if (step == 0) Assert.True(auxk == "0" ? Math.Abs(lossDense - reconstruction) < 1e-6 : lossDense > reconstruction * 1.01, $"loss {lossDense} vs reconstruction {reconstruction}");
            foreach (var name in dense.Keys)
            {
                double scale = dense[name].abs().max().item<float>();
                Assert.True(scale > 0, $"{name}: zero gradient");
                double err = (sparse[name] - dense[name]).abs().max().item<float>();
                Assert.True(err <= 2e-5 * scale, $"step {step} {name}: max |sparse − autograd| = {err:G3} against max |grad| {scale:G3}");
            }
        }
        if (a is BatchTopKSae ba) Assert.Equal(((BatchTopKSae)b).Threshold, ba.Threshold, 6);   // one running-threshold update per step on both paths
    }

    [Fact]
    public void SparseRowsProductsEqualTheDenseOnes()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(5);
        var table = randn([40, 19], generator: g);
        var rows = randn([13, 19], generator: g);
        var idx = randperm(40, generator: g).narrow(0, 0, 7).repeat(13, 1).contiguous();
        idx[3, 2] = idx[3, 1].clone(); // a repeated atom in one row counts twice
        var values = randn([13, 7], generator: g);
        var z = zeros(13, 40).scatter_add(1, idx, values);
        Assert.True(ConceptSuite.Discovery.Numerics.SparseRows.Combine(values, idx, table).allclose(z.matmul(table), rtol: 1e-5, atol: 1e-5));
        Assert.True(ConceptSuite.Discovery.Numerics.SparseRows.Dots(rows, idx, table).allclose(rows.matmul(table.t()).gather(1, idx), rtol: 1e-5, atol: 1e-5));
        var into = ones(40, 19);
        ConceptSuite.Discovery.Numerics.SparseRows.ScatterAdd(into, values, idx, rows);
        Assert.True(into.allclose(1 + z.t().matmul(rows), rtol: 1e-5, atol: 1e-5));
        idx[0, 0] = 40;
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ConceptSuite.Discovery.Numerics.SparseRows.Combine(values, idx, table));
        Assert.Contains("[0, 40)", e.Message);
    }
}
