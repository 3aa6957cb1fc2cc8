using ConceptSuite.Discovery.Metrics;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Tests.Discovery;

public class MetricsTests
{
    [Fact]
    public void RSquaredAndL0OnHandComputedValues()
    {
        // x = [[1,2],[3,4]], x̂ = [[1,2],[2,4]]: SSE = 1, SST = (1+1)+(1+1) = 4 → R² = 0.75.
        using var x = tensor(new float[] { 1, 2, 3, 4 }).reshape(2, 2);
        using var xh = tensor(new float[] { 1, 2, 2, 4 }).reshape(2, 2);
        Assert.Equal(0.75, DictionaryMetrics.R2(x, xh), 12);
        using var z = tensor(new float[] { 0, 1, 2, 0, 0, 0 }).reshape(2, 3);
        Assert.Equal(1.0, DictionaryMetrics.L0(z), 12);
    }

    [Fact]
    public void ComputeFromSumsGivesMseAndDeadFraction()
    {
        using var sum = tensor(new double[] { 4, 6 });
        using var sq = tensor(new double[] { 10, 20 });
        using var active = tensor(new[] { true, false, true, false });
        var m = DictionaryMetrics.Compute(sse: 1, sum, sq, n: 2, d: 2, nnz: 3, active);
        Assert.Equal(0.75, m.R2, 12);
        Assert.Equal(0.25, m.Mse, 12);
        Assert.Equal(1.5, m.L0, 12);
        Assert.Equal(0.5, m.DeadFraction, 12);
    }

    [Fact]
    public void StabilityIsOneForPermutedSignFlippedAtomsAndMatchesHungarian()
    {
        using var a = tensor(new float[] { 1, 0, 0, 0, 1, 0, 0, 0, 1 }).reshape(3, 3);
        using var b = tensor(new float[] { 0, -1, 0, 0, 0, 2, 3, 0, 0 }).reshape(3, 3);
        var (assign, sim, mean) = DictionaryMetrics.Match(a, b);
        Assert.Equal(new[] { 2, 0, 1 }, assign);
        Assert.All(sim, s => Assert.Equal(1.0, s, 12));
        Assert.Equal(1.0, mean, 12);
        // Orthogonal dictionaries: 0. Half-aligned: cos 45° = √½.
        using var c = tensor(new float[] { 1, 1, 0 }).reshape(1, 3);
        using var e = tensor(new float[] { 1, 0, 0 }).reshape(1, 3);
        Assert.Equal(Math.Sqrt(0.5), DictionaryMetrics.Stability(c, e), 6);
    }
}
