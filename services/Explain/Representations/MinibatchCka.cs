using ConceptSuite.Core.Methods;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Representations;

/// <summary>
/// Minibatch linear CKA for large N (Nguyen, Raghu and Kornblith 2021, "Do Wide and Deep Networks
/// Learn the Same Things?", eq. 3): over k minibatches of shuffled rows,
/// CKA = Σ_b HSIC₁(K_b, L_b) / √(Σ_b HSIC₁(K_b, K_b) · Σ_b HSIC₁(L_b, L_b)), HSIC₁ unbiased.
/// Never NaN: the unbiased self-terms can sum to ≤ 0 on tiny or degenerate batches, and then the
/// biased HSIC (never negative) replaces all three sums; a side with no variance gives 0; the
/// result is clamped to [−1, 1]. A last batch with fewer than 4 rows joins the previous one. Each
/// batch's HSIC terms are computed in feature space (no B × B Grams).
/// </summary>
public sealed class MinibatchCka(int batchSize = 256, long seed = 0) : IRepresentationSimilarity
{
    public MinibatchCka(MinibatchCkaOptions options) : this(options.BatchSize, options.Seed) { }

    public int BatchSize { get; } = batchSize >= 4 ? batchSize : throw new Contracts.InvalidInputException("batch_size", $"must be at least 4 (unbiased HSIC needs n ≥ 4), got {batchSize}");

    public int MinSamples => 4;

    public double Score(Tensor a, Tensor b)
    {
        using var scope = torch.NewDisposeScope();
        var (x, y) = ExplainTensors.Pair(a, b, MinSamples);
        long n = x.shape[0];
        var gen = new torch.Generator((ulong)seed);
        var perm = torch.randperm(n, generator: gen);
        double xy = 0, xx = 0, yy = 0, bxy = 0, bxx = 0, byy = 0;
        foreach (var (start, count) in Batches(n, BatchSize))
        {
            using var inner = torch.NewDisposeScope();
            var idx = perm.narrow(0, start, count);
            var xb = x.index_select(0, idx);
            var yb = y.index_select(0, idx);
            double unbiased = count * (count - 3.0), biased = (count - 1.0) * (count - 1.0);
            xy += KernelAlignment.LinearUnbiasedInner(xb, yb) / unbiased;
            xx += KernelAlignment.LinearUnbiasedInner(xb, xb) / unbiased;
            yy += KernelAlignment.LinearUnbiasedInner(yb, yb) / unbiased;
            bxy += KernelAlignment.LinearBiasedInner(xb, yb) / biased;
            bxx += KernelAlignment.LinearBiasedInner(xb, xb) / biased;
            byy += KernelAlignment.LinearBiasedInner(yb, yb) / biased;
        }
        if (!(xx > 0 && yy > 0)) (xy, xx, yy) = (bxy, bxx, byy);
        if (!(xx > 0 && yy > 0)) return 0.0;
        var r = xy / Math.Sqrt(xx * yy);
        return double.IsFinite(r) ? Math.Clamp(r, -1.0, 1.0) : 0.0;
    }

    /// <summary>Row ranges of the batches: ⌊n/B⌋ full ones, a short tail (&lt; 4 rows) merged into the last.</summary>
    public static IEnumerable<(long Start, long Count)> Batches(long n, int batchSize)
    {
        var list = new List<(long, long)>();
        for (long s = 0; s < n; s += batchSize) list.Add((s, Math.Min(batchSize, n - s)));
        if (list.Count > 1 && list[^1].Item2 < 4)
        {
            var (s0, c0) = list[^2];
            list[^2] = (s0, c0 + list[^1].Item2);
            list.RemoveAt(list.Count - 1);
        }
        return list;
    }
}

/// <summary>Options of <see cref="MinibatchCka"/>; the seed (of the row shuffle) is the request's.</summary>
public sealed record MinibatchCkaOptions(int BatchSize, long Seed)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
        [OptionSpec.Int("batch_size", 256, "rows per minibatch (unbiased HSIC needs at least 4)", 4, 1 << 24)];

    public static MinibatchCkaOptions From(OptionValues o) =>
        new(o.Int("batch_size"), RequestSeed.Of(o));
}
