using ConceptSuite.Contracts;
using ConceptSuite.Explain.Importance;
using TorchSharp;
using static ConceptSuite.Tests.Explain.ExplainFixtures;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Tests.Explain;

public sealed class ConceptImportanceTests
{
    /// <summary>A non-linear head for path-method checks: logits = softplus(U W₁ᵀ) W₂ᵀ.</summary>
    sealed class SoftplusHead(Tensor w1, Tensor w2) : IConceptHead
    {
        public long Concepts => w1.shape[1];
        public long Classes => w2.shape[0];
        public Tensor Forward(Tensor u) => torch.nn.functional.softplus(u.matmul(w1.t())).matmul(w2.t());
    }

    [Theory]
    [InlineData("sobol")]
    [InlineData("halton")]
    [InlineData("latin_hypercube")]
    public void SobolTotalIndicesOfAnAdditiveModelAreTheSquaredWeightShares(string design)
    {
        using var scope = torch.NewDisposeScope();
        // f(M) = Σ aᵢ mᵢ with independent uniform masks: S_Ti = aᵢ² / Σ aⱼ².
        var a = new double[] { 4, 2, 1, 0.5, 3 };
        var head = new LinearConceptHead(torch.tensor(a, [1, 5], ScalarType.Float64));
        var est = new SobolTotalIndex(designSize: 1024, repeats: 4, design: MaskDesigns.Create(design), seed: 1);
        var phi = est.Explain(head, torch.ones(1, 5, ScalarType.Float64), [0]).data<double>().ToArray();
        var total = a.Sum(x => x * x);
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(phi[i] - a[i] * a[i] / total) < 0.02, $"{design} S_T{i} = {phi[i]:F4}, expected {a[i] * a[i] / total:F4}");
    }

    /// <summary>
    /// Sobol' sequence in Gray-code order: coordinate 0 is van der Corput (0, 1/2, 3/4, 1/4, 3/8, 7/8,
    /// 5/8, 1/8); coordinate 1 (x + 1, m = 1, 3, 5, 15, …) starts 0, 1/2, 1/4, 3/4; in every one of 200 coordinates the first 2⁸
    /// points fill the 256 dyadic intervals once each, also after a digital shift; there are 6
    /// primitive polynomials of degree 5 (φ(31)/5) and 18 of degree 7 (φ(127)/7).
    /// </summary>
    [Fact]
    public void SobolPointsFormDyadicNetsInEveryCoordinate()
    {
        using var scope = torch.NewDisposeScope();
        var design = new SobolSequenceDesign();
        var x = design.Sample(256, 200, 0);
        Assert.Equal(new[] { 0, 0.5, 0.75, 0.25, 0.375, 0.875, 0.625, 0.125 }, x[TensorIndex.Slice(0, 8), 0].data<double>().ToArray());
        Assert.Equal(new[] { 0, 0.5, 0.25, 0.75 }, x[TensorIndex.Slice(0, 4), 1].data<double>().ToArray());
        foreach (var seed in new long[] { 0, 7 })
        {
            var cells = (design.Sample(256, 200, seed) * 256).floor().to_type(ScalarType.Int64).t();
            for (int j = 0; j < 200; j++)
                Assert.Equal(Enumerable.Range(0, 256).Select(v => (long)v), cells[j].data<long>().ToArray().Order());
        }
        var degrees = SobolSequenceDesign.PrimitivePolynomials().TakeWhile(p => p < 1 << 8).GroupBy(p => 63 - System.Numerics.BitOperations.LeadingZeroCount((ulong)p)).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(6, degrees[5]);
        Assert.Equal(18, degrees[7]);
    }

    [Fact]
    public void HaltonPointsAreRadicalInverses()
    {
        Assert.Equal(0.5, HaltonDesign.RadicalInverse(1, 2));
        Assert.Equal(0.25, HaltonDesign.RadicalInverse(2, 2));
        Assert.Equal(0.75, HaltonDesign.RadicalInverse(3, 2));
        Assert.Equal(1.0 / 3 + 1.0 / 9, HaltonDesign.RadicalInverse(4, 3), 15);
    }

    [Fact]
    public void OnALinearHeadGradientInputOcclusionAndIntegratedGradientsAreTheContributions()
    {
        using var scope = torch.NewDisposeScope();
        var w = Randn(1, 3, 6);
        var head = new LinearConceptHead(w, torch.tensor(new double[] { 0.5, -1, 2 }));
        var u = Randn(2, 4, 6).abs();
        long[] targets = [0, 2, 1, 2];
        var expected = u * w.index_select(0, torch.tensor(targets));
        foreach (var name in new[] { "gradient_input", "occlusion", "integrated_gradients" })
            Assert.True((ImportanceEstimators.Family.Create(name, null, "importance").Explain(head, u, targets) - expected).abs().max().item<double>() < 1e-12, name);
    }

    [Fact]
    public void IntegratedGradientsAreCompleteOnANonLinearHead()
    {
        using var scope = torch.NewDisposeScope();
        var head = new SoftplusHead(Randn(3, 8, 5), Randn(4, 2, 8));
        var u = Randn(5, 3, 5).abs();
        long[] targets = [0, 1, 1];
        var phi = new IntegratedGradients(64).Explain(head, u, targets);
        var f = head.Forward(u).gather(1, torch.tensor(targets).unsqueeze(1)).squeeze(1);
        var f0 = head.Forward(torch.zeros_like(u)).gather(1, torch.tensor(targets).unsqueeze(1)).squeeze(1);
        // Midpoint rule with 64 points: measured error below 1e-4.
        Assert.True((phi.sum([1]) - (f - f0)).abs().max().item<double>() < 1e-3);
    }

    [Fact]
    public void RiseRanksConceptsOfALinearHeadByContribution()
    {
        using var scope = torch.NewDisposeScope();
        var head = new LinearConceptHead(torch.tensor(new double[] { 3, 1, 0, 2 }, [1, 4], ScalarType.Float64));
        var phi = new Rise(4096, 0.5, seed: 2).Explain(head, torch.ones(1, 4, ScalarType.Float64), [0]).data<double>().ToArray();
        // E[φᵢ − φⱼ] = (1 − p)(wᵢ − wⱼ).
        Assert.Equal(new[] { 0, 3, 1, 2 }, phi.Select((v, i) => (v, i)).OrderByDescending(t => t.v).Select(t => t.i).ToArray());
        Assert.Equal(0.5 * (3 - 1), phi[0] - phi[1], 0);
    }

    [Fact]
    public void ClassReducersCountPrevalenceAndReliability()
    {
        using var scope = torch.NewDisposeScope();
        var u = torch.tensor(new double[] { 1, 0, 2, 0, 0, 1, 1, 1 }, [4, 2], ScalarType.Float64);
        var phi = torch.tensor(new double[] { 0.5, 0, 1.5, 0, 0, 2, 1, 1 }, [4, 2], ScalarType.Float64);
        var r = ClassConceptReport.Compute(phi, u, [0, 0, 1, 1], 0);
        Assert.Equal(new[] { 1.0, 0.0 }, r.Importance);
        Assert.Equal(new[] { 1.0, 0.0 }, r.Prevalence);
        Assert.Equal(new[] { 2.0 / 3, 0.0 }, r.Reliability);
        var r1 = ClassConceptReport.Compute(phi, u, [0, 0, 1, 1], 1);
        Assert.Equal(new[] { 0.5, 1.0 }, r1.Prevalence);
        Assert.Equal(new[] { 1.0 / 3, 1.0 }, r1.Reliability);
        Assert.Equal("class_index", Assert.Throws<InvalidInputException>(() => ClassConceptReport.Compute(phi, u, [0, 0, 1, 1], 5)).Field);
    }

    [Fact]
    public void ClusterGraphSeparatesTwoStrategies()
    {
        using var scope = torch.NewDisposeScope();
        // Class 1 has two strategies: concept 0 (rows 0–5) and concept 2 (rows 6–11); class 0 rows are ignored.
        var rows = new List<double[]>();
        var rng = new Random(3);
        for (int i = 0; i < 12; i++) rows.Add(i < 6 ? [1 + rng.NextDouble() * 0.1, 0.1, 0, 0.05] : [0.05, 0, 2 + rng.NextDouble() * 0.1, 0.2]);
        rows.Add([0, 0, 0, 5]);
        var phi = torch.tensor(rows.SelectMany(r => r).ToArray(), [13, 4], ScalarType.Float64);
        long[] labels = [.. Enumerable.Repeat(1L, 12), 0];
        var clusters = new StrategicClusterGraph(2, exemplars: 2, dominantConcepts: 1).Build(phi, labels, 1);
        var byConcept = clusters.OrderBy(c => c.DominantConcepts[0]).ToArray();
        Assert.Equal(new[] { 0 }, byConcept[0].DominantConcepts);
        Assert.Equal(new[] { 2 }, byConcept[1].DominantConcepts);
        Assert.Equal(Enumerable.Range(0, 6), byConcept[0].Members);
        Assert.Equal(Enumerable.Range(6, 6), byConcept[1].Members);
        Assert.All(byConcept[1].Exemplars, e => Assert.InRange(e, 6, 11));
    }

    [Fact]
    public void BadConceptInputNamesTheField()
    {
        using var scope = torch.NewDisposeScope();
        var head = new LinearConceptHead(Randn(1, 3, 4));
        Assert.Equal("coefficients", Assert.Throws<InvalidInputException>(() => new Occlusion().Explain(head, Randn(2, 2, 5), [0, 0])).Field);
        Assert.Equal("targets", Assert.Throws<InvalidInputException>(() => new Occlusion().Explain(head, Randn(2, 2, 4), [0, 3])).Field);
        Assert.Equal("targets", Assert.Throws<InvalidInputException>(() => new Occlusion().Explain(head, Randn(2, 2, 4), [0])).Field);
        Assert.Equal("design", Assert.Throws<InvalidInputException>(() => MaskDesigns.Create("sobolev")).Field);
        Assert.Equal("importance.method", Assert.Throws<InvalidInputException>(() => ImportanceEstimators.Family.Create("lime", null, "importance")).Field);
    }
}
