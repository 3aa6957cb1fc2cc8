using ConceptSuite.Core.Numerics;
using ConceptSuite.Explain.Representations;
using TorchSharp;
using static ConceptSuite.Tests.Explain.ExplainFixtures;

namespace ConceptSuite.Tests.Explain;

public sealed class ConvergentLearningTests
{
    [Fact]
    public void HungarianSolvesAHandCheckedAssignment()
    {
        // Optimum by enumeration of the 6 permutations: rows → (1, 0, 2), cost 1 + 2 + 2 = 5.
        var cost = new double[,] { { 4, 1, 3 }, { 2, 0, 5 }, { 3, 2, 2 } };
        var a = Hungarian.Solve(cost);
        Assert.Equal(new[] { 1, 0, 2 }, a);
        Assert.Equal(5.0, a.Select((j, i) => cost[i, j]).Sum());
        // Rectangular both ways.
        Assert.Equal(new[] { 2, 0 }, Hungarian.SolveRectangular(new double[,] { { 5, 9, 1 }, { 2, 3, 4 } }));
        Assert.Equal(new[] { 1, -1, 0 }, Hungarian.SolveRectangular(new double[,] { { 5, 1 }, { 9, 3 }, { 1, 4 } }));
    }

    [Fact]
    public void HungarianMatchesScipyLinearSumAssignment()
    {
        var f = Load("representations.json");
        var corr = Rows(f.GetProperty("correlation"));
        var c = new double[corr.Length, corr[0].Length];
        for (int i = 0; i < corr.Length; i++) for (int j = 0; j < corr[0].Length; j++) c[i, j] = corr[i][j];
        var expected = f.GetProperty("hungarian_partner").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        Assert.Equal(expected, Hungarian.Maximize(c));
    }

    [Fact]
    public void CorrelationMatrixAgreesWithNumpy()
    {
        using var scope = torch.NewDisposeScope();
        var f = Load("representations.json");
        var c = UnitCorrelation.Compute(Matrix(f.GetProperty("a")), Matrix(f.GetProperty("b")));
        Assert.True((c - Matrix(f.GetProperty("correlation"))).abs().max().item<double>() < 1e-10);
    }

    [Fact]
    public void MatchingANetworkAgainstAPermutedCopyRecoversThePermutation()
    {
        using var scope = torch.NewDisposeScope();
        var a = torch.nn.functional.relu(Randn(20, 300, 32).matmul(Randn(21, 32, 24)));
        var perm = torch.randperm(24, generator: new torch.Generator(22));
        var b = a.index_select(1, perm) + 1e-3 * Randn(23, 300, 24);
        var m = UnitMatching.Match(a, b);
        var p = perm.data<long>().ToArray();
        for (int j = 0; j < p.Length; j++) Assert.Equal(j, m.Partner[p[j]]);
        Assert.True(m.Correlation.All(c => c > 0.999));
    }

    [Fact]
    public void SparsePredictionAgreesWithSklearnLasso()
    {
        using var scope = torch.NewDisposeScope();
        var f = Load("representations.json");
        var r = new SparsePrediction(f.GetProperty("lasso_alpha").GetDouble()).Fit(Matrix(f.GetProperty("a")), Matrix(f.GetProperty("b")));
        var coef = Rows(f.GetProperty("lasso_coef"));
        for (int i = 0; i < coef.Length; i++)
            for (int j = 0; j < coef[0].Length; j++)
                Assert.True(Math.Abs(coef[i][j] - r.Weights[i, j]) < 1e-5, $"w[{i},{j}] {r.Weights[i, j]} vs {coef[i][j]}");
    }

    [Fact]
    public void SparsePredictionOfAPermutedCopyUsesOneUnitEach()
    {
        using var scope = torch.NewDisposeScope();
        var a = Randn(30, 200, 10);
        var b = a.index_select(1, torch.tensor(new long[] { 3, 1, 7 }));
        var r = new SparsePrediction(0.05).Fit(a, b);
        Assert.Equal(new[] { 1, 1, 1 }, r.NonZero);
        // R² = 1 − (α)² for a unit-variance target predicted from its own copy: w = 1 − α.
        foreach (var r2 in r.R2) Assert.Equal(1 - 0.05 * 0.05, r2, 9);
    }

    [Fact]
    public void SpectralClusteringGroupsUnitsThatShareALatentFactor()
    {
        using var scope = torch.NewDisposeScope();
        var z = Randn(40, 400, 3);
        // A: 3 units per factor; B: 2 units per factor, each a noisy, rescaled copy.
        var a = torch.cat(Enumerable.Range(0, 9).Select(i => (1 + i) * z.narrow(1, i % 3, 1) + 0.2 * Randn(41 + i, 400, 1)).ToArray(), 1);
        var b = torch.cat(Enumerable.Range(0, 6).Select(i => -z.narrow(1, i % 3, 1) + 0.2 * Randn(60 + i, 400, 1)).ToArray(), 1);
        var r = new UnitSpectralClustering(3).Fit(a, b);
        for (int i = 0; i < 9; i++) Assert.Equal(r.LabelsA[i % 3], r.LabelsA[i]);
        for (int i = 0; i < 6; i++) Assert.Equal(r.LabelsA[i % 3], r.LabelsB[i]);
        Assert.Equal(3, r.LabelsA.Take(3).Distinct().Count());
    }
}
