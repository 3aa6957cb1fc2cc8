using ConceptSuite.Contracts;
using TorchSharp;
using static TorchSharp.torch;
using CoreKMeans = ConceptSuite.Core.Numerics.KMeans;

namespace ConceptSuite.Tests.Discovery;

/// <summary>The suite's one k-means (Core.Numerics.KMeans), used by discovery, explain and generate.</summary>
public class CoreKMeansTests
{
    [Fact]
    public void FitRecoversPlantedBlobsWithNonIncreasingInertia()
    {
        using var g = new Generator(41);
        using var centres = randn([5, 8], generator: g) * 6;
        using var truth = arange(400).remainder(5);
        using var x = centres.index_select(0, truth) + 0.2f * randn([400, 8], generator: g);
        using var fit = CoreKMeans.Fit(x, 5, restarts: 3, seed: 7);
        // Each planted blob is one cluster: the label of a point determines its blob and back.
        var labels = fit.Labels.data<long>().ToArray();
        var t = truth.data<long>().ToArray();
        Assert.Equal(5, labels.Distinct().Count());
        for (int i = 0; i < 400; i++) Assert.Equal(labels[i % 5], labels[i]);
        for (int j = 0; j < fit.History.Count - 1; j++) Assert.True(fit.History[j + 1] <= fit.History[j] * (1 + 1e-6), $"inertia rose at pass {j + 1}");
        // Inertia = Σ‖noise‖² around the blob means: 400·8·0.2² ≈ 128 (the same draw measured 126.6).
        Assert.InRange(fit.Inertia, 100, 160);
        Assert.Equal(fit.Inertia, CoreKMeans.Inertia([x.alias()], fit.Centers), 3);
        Assert.Equal(t.Length, labels.Length);
    }

    [Fact]
    public void RowsOfDoublesGiveTheSamePartitionAsTheTensorAndTheSeedFixesIt()
    {
        using var g = new Generator(42);
        using var x = (randn([3, 4], generator: g) * 5).index_select(0, arange(90).remainder(3)) + 0.1f * randn([90, 4], generator: g);
        var rows = Enumerable.Range(0, 90).Select(i => x[i].to_type(ScalarType.Float64).data<double>().ToArray()).ToArray();
        var a = CoreKMeans.Fit(rows, 3, restarts: 2, seed: 5);
        var b = CoreKMeans.Fit(rows, 3, restarts: 2, seed: 5);
        using var t = CoreKMeans.Fit(x.to_type(ScalarType.Float64), 3, restarts: 2, seed: 5);
        Assert.Equal(a.Labels, b.Labels);
        Assert.Equal(a.Labels, t.Labels.data<long>().Select(l => (int)l).ToArray());
        Assert.Equal(3, a.Centers.Length);
        Assert.Equal(4, a.Centers[0].Length);
    }

    [Fact]
    public void TooFewRowsOrNoClustersAreRejectedNamingTheCallersField()
    {
        using var x = zeros(2, 3);
        Assert.Equal("clusters", Assert.Throws<InvalidInputException>(() => CoreKMeans.Fit(x, 3, field: "clusters")).Field);
        Assert.Equal("groups", Assert.Throws<InvalidInputException>(() => CoreKMeans.Fit(x, 0, field: "groups")).Field);
    }
}
