using ConceptSuite.Contracts;
using ConceptSuite.Discovery.Abstractions;
using ConceptSuite.Discovery.Methods;
using ConceptSuite.Discovery.Metrics;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Tests.Discovery;

public class ClassicalMethodTests
{
    static IConceptDictionary Make(string method, int k, params (string, string)[] options) =>
        DictionaryMethods.Create(method, k, options.ToDictionary(o => o.Item1, o => o.Item2));

    [Fact]
    public void PcaExactMatchesTheSvdOfTheCentredData()
    {
        using var x = DiscoveryTestData.FixtureMatrix();
        using var pca = (Pca)Make("pca", 5, ("solver", "exact"));
        pca.Fit(new TensorRowSource(x), FitContext.Default());
        using var xc = x.to_type(ScalarType.Float64) - x.to_type(ScalarType.Float64).mean([0]);
        var (_, s, vh) = linalg.svd(xc, fullMatrices: false);
        using var atoms = pca.Atoms().to_type(ScalarType.Float64);
        // |cos| between each component and the matching right singular vector is 1 (signs are free).
        using var cos = (atoms * vh.narrow(0, 0, 5)).sum(1).abs();
        Assert.True(cos.min().item<double>() > 1 - 1e-5, $"min |cos| {cos.min().item<double>()}");
        using var ev = s.narrow(0, 0, 5).square() / (x.shape[0] - 1);
        using var diff = (pca.ExplainedVariance.to_type(ScalarType.Float64) - ev).abs() / ev;
        Assert.True(diff.max().item<double>() < 1e-4);
    }

    [Fact]
    public void PcaRandomizedAgreesWithExactAndStreamsBlocks()
    {
        using var g = new Generator(17);
        // Spectrum 10, 9, ..., 1 (well separated) on 20 dims, rotated.
        using var scales = linspace(10, 1, 10).to_type(ScalarType.Float32);
        using var basis = linalg.qr(randn([20, 20], generator: g)).Q;
        using var x = (randn([3000, 10], generator: g) * scales).matmul(basis.narrow(0, 0, 10)) + 3;
        using var exact = Make("pca", 5, ("solver", "exact"));
        using var rand = Make("pca", 5, ("solver", "randomized"), ("power_iters", "6"));
        exact.Fit(new TensorRowSource(x), FitContext.Default());
        rand.Fit(new TensorRowSource(x), FitContext.Default(3));
        using var a = exact.Atoms();
        using var b = rand.Atoms();
        double stab = DictionaryMetrics.Stability(a, b);
        Assert.True(stab > 0.999, $"stability {stab}");
        double r2e = DictionaryMetrics.R2(x, exact.Decode(exact.Encode(x)));
        double r2r = DictionaryMetrics.R2(x, rand.Decode(rand.Encode(x)));
        Assert.Equal(r2e, r2r, 4);
    }

    [Fact]
    public void PcaRejectsMoreComponentsThanDimensions()
    {
        using var pca = Make("pca", 31);
        var e = Assert.Throws<InvalidInputException>(() => pca.Validate(new DataStats(200, 30, 0, 1, "activations")));
        Assert.Equal("n_concepts", e.Field);
    }

    [Fact]
    public void KMeansLloydInertiaNeverIncreasesAndFindsPlantedBlobs()
    {
        using var x = DiscoveryTestData.Blobs(600, 8, 4, seed: 5);
        using var km = (KMeans)Make("kmeans", 4, ("init", "random"));
        km.Fit(new TensorRowSource(x), FitContext.Default(1));
        for (int i = 1; i < km.InertiaHistory.Count; i++)
            Assert.True(km.InertiaHistory[i] <= km.InertiaHistory[i - 1] * (1 + 1e-6), $"pass {i}: {km.InertiaHistory[i]} > {km.InertiaHistory[i - 1]}");
        // Blobs of spread 0.1 in 8 dims: inertia ≈ 600·8·0.01 = 48 when every blob is found.
        Assert.True(km.Inertia < 70, $"inertia {km.Inertia}");
        using var codes = km.Encode(x);
        Assert.Equal(1.0, DictionaryMetrics.L0(codes), 9);
    }

    [Fact]
    public void KMeansMiniBatchReachesLloydsInertiaOnBlobs()
    {
        using var x = DiscoveryTestData.Blobs(2000, 8, 4, seed: 6);
        using var lloyd = (KMeans)Make("kmeans", 4);
        using var mb = (KMeans)Make("kmeans", 4, ("solver", "minibatch"), ("batch_size", "256"), ("max_iter", "5"));
        lloyd.Fit(new TensorRowSource(x), FitContext.Default());
        mb.Fit(new TensorRowSource(x), FitContext.Default());
        Assert.True(mb.Inertia < lloyd.Inertia * 1.05, $"mini-batch {mb.Inertia} vs Lloyd {lloyd.Inertia}");
    }

    [Theory]
    [InlineData("hals")]
    [InlineData("mu")]
    public void NmfIsNonNegativeAndItsErrorDecreasesMonotonically(string solver)
    {
        using var x = DiscoveryTestData.FixtureMatrix();
        using var nmf = (Nmf)Make("nmf", 5, ("solver", solver), ("max_iter", "100"), ("tol", "0"), ("error_every", "1"));
        nmf.Fit(new TensorRowSource(x), FitContext.Default());
        Assert.Equal(101, nmf.ErrorHistory.Count);
        for (int i = 1; i < nmf.ErrorHistory.Count; i++)
            Assert.True(nmf.ErrorHistory[i] <= nmf.ErrorHistory[i - 1] * (1 + 1e-6), $"iteration {i}: {nmf.ErrorHistory[i]} > {nmf.ErrorHistory[i - 1]}");
        using var w = nmf.Atoms();
        using var u = nmf.Encode(x);
        Assert.True(w.min().item<float>() >= 0);
        Assert.True(u.min().item<float>() >= 0);
        Assert.True(nmf.ErrorHistory[^1] < 0.5 * nmf.ErrorHistory[0]);
    }

    [Fact]
    public void NmfEncodeSolvesNnlsNotAClampedProjection()
    {
        using var x = DiscoveryTestData.FixtureMatrix();
        using var nmf = Make("nmf", 5);
        nmf.Fit(new TensorRowSource(x), FitContext.Default());
        using var w = nmf.Atoms();
        using var u = nmf.Encode(x);
        // Clamped least squares is the naive encoder; the NNLS solution cannot be worse.
        using var ls = linalg.lstsq(w.t(), x.t()).Solution.t().clamp_min(0);
        double eNnls = (x - u.matmul(w)).square().sum().item<float>();
        double eClamp = (x - ls.matmul(w)).square().sum().item<float>();
        Assert.True(eNnls <= eClamp * (1 + 1e-5), $"NNLS {eNnls} vs clamped {eClamp}");
        // KKT of NNLS: gradient Uᵀ-side g = (UW − X)Wᵀ is ≥ 0 where U = 0 and ≈ 0 where U > 0.
        using var grad = (u.matmul(w) - x).matmul(w.t());
        using var active = u > 1e-4f;
        float scale = x.matmul(w.t()).abs().max().item<float>();
        float onActive = grad.masked_select(active).abs().max().item<float>() / scale;
        float onZero = grad.masked_select(active.logical_not()).min().item<float>() / scale;
        Assert.True(onActive < 1e-3f, $"relative |gradient| on the support {onActive}");
        Assert.True(onZero > -1e-3f, $"relative gradient off the support {onZero}");
    }

    [Fact]
    public void NmfRejectsNegativeDataUnlessSemi()
    {
        using var plain = Make("nmf", 3);
        var e = Assert.Throws<InvalidInputException>(() => plain.Validate(new DataStats(10, 4, -0.5, 1, "activations")));
        Assert.Equal("activations", e.Field);
        using var semi = Make("nmf", 3, ("semi", "true"));
        semi.Validate(new DataStats(10, 4, -0.5, 1, "activations"));
    }

    [Theory]
    [InlineData("hals")]
    [InlineData("mu")]
    public void SemiNmfFitsSignedDataWithNonNegativeCodes(string solver)
    {
        var (x, _) = DiscoveryTestData.PlantedSparse(300, 12, 4, 2, seed: 3);
        using var _x = x;
        using var semi = (Nmf)Make("nmf", 4, ("semi", "true"), ("solver", solver), ("max_iter", "150"), ("tol", "0"), ("error_every", "1"));
        semi.Fit(new TensorRowSource(x), FitContext.Default());
        for (int i = 1; i < semi.ErrorHistory.Count; i++)
            Assert.True(semi.ErrorHistory[i] <= semi.ErrorHistory[i - 1] * (1 + 1e-5), $"iteration {i}");
        using var u = semi.Encode(x);
        Assert.True(u.min().item<float>() >= 0);
        using var xh = semi.Decode(u);
        Assert.True(DictionaryMetrics.R2(x, xh) > 0.95, $"R² {DictionaryMetrics.R2(x, xh)}");
    }

    [Fact]
    public void NmfOutOfCoreMatchesInMemoryQuality()
    {
        using var x = DiscoveryTestData.FixtureMatrix();
        using var mem = Make("nmf", 5);
        using var ooc = (Nmf)Make("nmf", 5, ("in_memory_elements", "100"), ("max_iter", "60"), ("encode_iters", "30"));
        mem.Fit(new TensorRowSource(x), FitContext.Default());
        ooc.Fit(new TensorRowSource(x), FitContext.Default());
        double a = DictionaryMetrics.R2(x, mem.Decode(mem.Encode(x)));
        double b = DictionaryMetrics.R2(x, ooc.Decode(ooc.Encode(x)));
        Assert.True(b > a - 0.01, $"out of core R² {b} vs in memory {a}");
    }

    /// <summary>Each column of xᵀ [c, m] solves min_{x ≥ 0} ½xᵀGx − bᵀx; 77 columns leave a partial SIMD tile.</summary>
    [Fact]
    public void HalsReachesTheNnlsOptimalityConditionsAndNeverIncreasesTheObjective()
    {
        using var g = new Generator(5);
        using var m = randn([40, 6], generator: g);
        using var gram = m.t().matmul(m);                               // [6, 6], positive definite
        using var bt = randn([6, 77], generator: g) * 3;
        using var xt = zeros(6, 77);
        double Objective() => (0.5 * (xt * gram.matmul(xt)).sum() - (bt * xt).sum()).item<float>();
        double previous = Objective();
        for (int call = 0; call < 20; call++)
        {
            ConceptSuite.Discovery.Numerics.Hals.Solve(xt, bt, gram, 0, 1);
            double now = Objective();
            Assert.True(now <= previous + 1e-4, $"call {call}: objective {now} > {previous}");
            previous = now;
        }
        ConceptSuite.Discovery.Numerics.Hals.Solve(xt, bt, gram, 0, 2000);
        // KKT: x ≥ 0; the gradient Gx − b is 0 where x > 0 and ≥ 0 where x = 0.
        using var grad = gram.matmul(xt) - bt;
        Assert.True(xt.min().item<float>() >= 0);
        Assert.True(grad.where(xt > 0, zeros_like(grad)).abs().max().item<float>() < 1e-3, "gradient on the free coordinates");
        Assert.True(grad.where(xt == 0, zeros_like(grad)).min().item<float>() > -1e-3, "gradient on the bound coordinates");
        Assert.True((xt == 0).any().item<bool>() && (xt > 0).any().item<bool>(), "both bound and free coordinates occur");
        // The same columns solved one at a time by unconstrained least squares on their free set agree.
        for (int col = 0; col < 77; col += 19)
        {
            var free = (xt[.., col] > 0).nonzero().squeeze(1);
            if (free.numel() == 0) continue;
            using var sub = gram.index_select(0, free).index_select(1, free);
            using var exact = linalg.solve(sub, bt[.., col].index_select(0, free));
            Assert.True((exact - xt[.., col].index_select(0, free)).abs().max().item<float>() < 1e-3, $"column {col}");
        }
    }

    [Fact]
    public void NndsvdaStartsNmfCloserThanRandomAndEndsNoWorse()
    {
        using var x = DiscoveryTestData.FixtureMatrix();
        using var a = (Nmf)Make("nmf", 5, ("init", "nndsvda"), ("tol", "0"), ("error_every", "1"), ("max_iter", "200"));
        using var b = (Nmf)Make("nmf", 5, ("init", "random"), ("tol", "0"), ("error_every", "1"), ("max_iter", "200"));
        a.Fit(new TensorRowSource(x), FitContext.Default());
        b.Fit(new TensorRowSource(x), FitContext.Default());
        // After one iteration NNDSVDa is ahead; after 200 it is still no worse (measured 2.435 vs 2.466).
        Assert.True(a.ErrorHistory[1] < b.ErrorHistory[1], $"nndsvda {a.ErrorHistory[1]} vs random {b.ErrorHistory[1]}");
        Assert.True(a.ErrorHistory[^1] <= b.ErrorHistory[^1], $"{a.ErrorHistory[^1]} vs {b.ErrorHistory[^1]}");
    }

    [Fact]
    public void FastIcaRecoversPlantedLaplaceSources()
    {
        using var g = new Generator(11);
        // Laplace sources (super-Gaussian), mixed by a random matrix.
        using var u = rand([4000, 3], generator: g) - 0.5f;
        using var s = -u.sign() * (1 - 2 * u.abs()).clamp_min(1e-6f).log();
        using var mix = randn([3, 6], generator: g);
        using var x = s.matmul(mix);
        using var ica = Make("fastica", 3);
        ica.Fit(new TensorRowSource(x), FitContext.Default());
        using var est = ica.Encode(x);
        // Each estimated source correlates |ρ| > 0.98 with one true source.
        // Correlations: standardise with the biased std and divide by N (consistent).
        using var sm = s - s.mean([0]);
        using var em = est - est.mean([0]);
        using var sc = sm / sm.square().mean([0]).sqrt();
        using var ec = em / em.square().mean([0]).sqrt();
        using var corr = (sc.t().matmul(ec) / x.shape[0]).abs();
        var (best, _) = corr.max(1);
        Assert.True(best.min().item<float>() > 0.98f, $"min best |ρ| {best.min().item<float>()} after {((FastIca)ica).Iterations} iterations; |ρ| {string.Join(",", corr.data<float>().ToArray())}");
    }

    [Fact]
    public void SparseDictionaryLearningKeepsUnitAtomsAndReconstructsPlantedData()
    {
        var (x, _) = DiscoveryTestData.PlantedSparse(800, 16, 8, 2, seed: 4);
        using var _x = x;
        using var dl = (SparseDictionaryLearning)Make("sparse_dl", 8, ("alpha", "0.01"), ("max_iter", "15"));
        dl.Fit(new TensorRowSource(x), FitContext.Default());
        using var atoms = dl.Atoms();
        using var norms = atoms.norm(1);
        Assert.True((norms - 1).abs().max().item<float>() < 1e-4f);
        Assert.True(dl.ObjectiveHistory[^1] < dl.ObjectiveHistory[0]);
        using var z = dl.Encode(x);
        Assert.True(DictionaryMetrics.R2(x, dl.Decode(z)) > 0.95);
    }

    [Fact]
    public void IstaAndFistaReachTheSameLassoSolution()
    {
        var (x, atoms) = DiscoveryTestData.PlantedSparse(50, 10, 6, 2, seed: 9);
        using var _x = x; using var _a = atoms;
        using var ista = (SparseDictionaryLearning)Make("sparse_dl", 6, ("coder", "ista"), ("code_iters", "3000"), ("alpha", "0.05"));
        using var fista = (SparseDictionaryLearning)Make("sparse_dl", 6, ("coder", "fista"), ("code_iters", "3000"), ("alpha", "0.05"));
        using var a = ista.Code(x, atoms);
        using var b = fista.Code(x, atoms);
        Assert.True((a - b).abs().max().item<float>() < 1e-3f);
    }
}
