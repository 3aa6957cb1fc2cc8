using ConceptSuite.Contracts;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Core.Numerics;

/// <summary>
/// k-means on tensors: minimise the inertia Σᵢ minⱼ ‖xᵢ − cⱼ‖² over k centres. Seeding by greedy
/// k-means++ (Arthur and Vassilvitskii 2007: each next centre is the best, by resulting
/// potential, of 2 + ⌊ln k⌋ candidates drawn with probability ∝ D(x)²); Lloyd iterations (Lloyd
/// 1982) over re-readable row blocks, so the data may be streamed: distances by one GEMM,
/// ‖x − c‖² = ‖x‖² − 2 x·c + ‖c‖², centre sums Σ_{i∈j} xᵢ by an index_add over the block. An empty
/// cluster keeps its centre, so the inertia never increases. Any floating dtype; sums and the
/// inertia are accumulated in float64. The one k-means of the suite: discovery's dictionary method,
/// explain's clusterings and generate's concept localisation call it.
/// </summary>
public static class KMeans
{
    /// <summary>A fitted partition: centres [k, D], labels int64 [n], the final inertia, the inertia
    /// at the start of each Lloyd pass, and the passes run.</summary>
    public sealed record Result(Tensor Centers, Tensor Labels, double Inertia, IReadOnlyList<double> History) : IDisposable
    {
        public void Dispose() { Centers.Dispose(); Labels.Dispose(); }
    }

    const int RowsPerBlock = 16384;

    /// <summary>‖x − c‖² for every row of <paramref name="x"/> [n, D] and centre of <paramref name="c"/> [k, D], clamped at 0: [n, k].
    /// <paramref name="xsq"/> is ‖x‖² [n] when the caller has it.</summary>
    public static Tensor SquaredDistances(Tensor x, Tensor c, Tensor? xsq = null)
    {
        using var scope = NewDisposeScope();
        var xs = xsq ?? x.square().sum(1);
        return torch.addmm(xs.unsqueeze(1), x, c.t(), beta: 1, alpha: -2).add_(c.square().sum(1).unsqueeze(0)).clamp_min_(0).MoveToOuterDisposeScope();
    }

    /// <summary>Nearest centre of each row: int64 [n].</summary>
    public static Tensor Assign(Tensor x, Tensor c)
    {
        using var scope = NewDisposeScope();
        return DistancesLessNorm(x, c).argmin(1).MoveToOuterDisposeScope();
    }

    /// <summary>‖c‖² − 2 x·c [n, k]: ‖x − c‖² less ‖x‖², which is the same for every centre, so the
    /// nearest centre needs only this.</summary>
    static Tensor DistancesLessNorm(Tensor x, Tensor c) => torch.addmm(c.square().sum(1).unsqueeze(0), x, c.t(), beta: 1, alpha: -2);

    /// <summary>Greedy k-means++ seeding on <paramref name="x"/> [n, D] (n ≥ k): k rows of x.</summary>
    public static Tensor PlusPlus(Tensor x, int k, Generator g)
    {
        using var scope = NewDisposeScope();
        long n = x.shape[0];
        int trials = 2 + (int)Math.Log(k);
        var sq = x.square().sum(1);
        var first = randint(0, n, [1], generator: g);
        var centers = new List<Tensor> { x.index_select(0, first) };
        var closest = SquaredDistances(x, centers[0], sq).squeeze(1);
        for (int c = 1; c < k; c++)
        {
            var total = closest.sum();
            var cand = total.to_type(ScalarType.Float64).item<double>() <= 0
                ? randint(0, n, [trials], generator: g)
                : multinomial((closest / total).to_type(ScalarType.Float32), trials, replacement: true, generator: g);
            var candX = x.index_select(0, cand);
            var d = SquaredDistances(x, candX, sq);                     // [n, trials]
            var best = minimum(d, closest.unsqueeze(1)).sum(0, keepdim: false).argmin().item<long>();
            centers.Add(candX.narrow(0, best, 1));
            closest = minimum(closest, d.select(1, best));
        }
        return cat(centers, 0).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Assigns the rows of one block; adds their sums [k, D] and counts [k] (float64) when given. Returns the block's inertia.</summary>
    public static double Accumulate(Tensor block, Tensor centers, Tensor? sums = null, Tensor? counts = null)
    {
        using var scope = NewDisposeScope();
        // ‖x‖² is added to the minimum alone.
        var (partial, idx) = DistancesLessNorm(block, centers).min(1);
        var minD = partial.add_(block.square().sum(1)).clamp_min_(0);
        if (sums is not null)
        {
            // Row sums per centre by index_add (one read of the block; a one-hot GEMM measured 3× slower).
            sums.add_(zeros_like(centers, dtype: block.dtype).index_add_(0, idx, block, 1).to_type(ScalarType.Float64));
            counts!.add_(idx.bincount(null, centers.shape[0]).to_type(ScalarType.Float64));
        }
        return minD.sum(type: ScalarType.Float64).item<double>();
    }

    /// <summary>Inertia of <paramref name="centers"/> over every block.</summary>
    public static double Inertia(IEnumerable<Tensor> blocks, Tensor centers, CancellationToken ct = default)
    {
        double inertia = 0;
        foreach (var block in blocks)
        {
            using var _ = block;
            ct.ThrowIfCancellationRequested();
            inertia += Accumulate(block, centers);
        }
        return inertia;
    }

    /// <summary>
    /// Lloyd iterations on <paramref name="centers"/> [k, D] (updated in place) over the blocks that
    /// <paramref name="blocks"/> yields afresh for each pass (the caller's blocks are disposed here).
    /// Stops after <paramref name="maxIter"/> passes or when the inertia fell by at most
    /// <paramref name="tol"/> of its value (tol = 0: until it stops falling, i.e. converged).
    /// Returns the inertia at the start of each pass; <paramref name="onPass"/> sees (pass, inertia).
    /// </summary>
    public static List<double> Lloyd(Func<IEnumerable<Tensor>> blocks, Tensor centers, int maxIter, double tol,
        CancellationToken ct = default, Action<int, double>? onPass = null)
    {
        var history = new List<double>();
        long k = centers.shape[0], d = centers.shape[1];
        for (int it = 0; it < maxIter; it++)
        {
            using var scope = NewDisposeScope();
            var sums = zeros(k, d, ScalarType.Float64);
            var counts = zeros(k, ScalarType.Float64);
            double inertia = 0;
            foreach (var block in blocks())
            {
                using var _ = block;
                ct.ThrowIfCancellationRequested();
                inertia += Accumulate(block, centers, sums, counts);
            }
            history.Add(inertia);
            onPass?.Invoke(it, inertia);
            var updated = where((counts > 0).unsqueeze(1), sums / counts.clamp_min(1).unsqueeze(1), centers.to_type(ScalarType.Float64));
            centers.copy_(updated);
            if (history.Count >= 2 && history[^2] - inertia <= tol * Math.Max(history[^2], 1e-300)) break;
        }
        return history;
    }

    /// <summary>
    /// In-memory k-means of <paramref name="x"/> [n, D]: <paramref name="restarts"/> seeded runs of
    /// k-means++ then Lloyd, the lowest inertia kept; labels of the kept centres. Errors name
    /// <paramref name="field"/> (k &lt; 1, or fewer rows than clusters).
    /// </summary>
    public static Result Fit(Tensor x, int k, int restarts = 1, int maxIter = 300, double tol = 0, long seed = 0,
        string field = "k", CancellationToken ct = default)
    {
        if (k < 1) throw new InvalidInputException(field, $"must be at least 1, got {k}");
        if (x.dim() != 2) throw new InvalidInputException(field, $"k-means needs rows [n, D], got rank {x.dim()}");
        if (x.shape[0] < k) throw new InvalidInputException(field, $"{k} clusters need at least {k} samples, got {x.shape[0]}");
        using var scope = NewDisposeScope();
        var data = x.contiguous();
        IEnumerable<Tensor> Blocks()
        {
            for (long s = 0; s < data.shape[0]; s += RowsPerBlock)
                yield return data.narrow(0, s, Math.Min(RowsPerBlock, data.shape[0] - s)).alias();
        }
        using var g = new Generator((ulong)seed);
        Tensor? best = null;
        double bestInertia = double.PositiveInfinity;
        List<double> bestHistory = [];
        for (int r = 0; r < Math.Max(1, restarts); r++)
        {
            var c = PlusPlus(data, k, g);
            var history = Lloyd(Blocks, c, maxIter, tol, ct);
            double inertia = Inertia(Blocks(), c, ct);
            if (best is null || inertia < bestInertia - 1e-12 * Math.Abs(bestInertia))
            {
                best = c; bestInertia = inertia; bestHistory = history;
            }
        }
        var labels = Assign(data, best!);
        return new Result(best!.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope(), bestInertia, bestHistory);
    }

    /// <summary><see cref="Fit(Tensor, int, int, int, double, long, string, CancellationToken)"/> on rows of doubles: labels, centres and inertia as arrays.</summary>
    public static (int[] Labels, double[][] Centers, double Inertia) Fit(double[][] rows, int k, int restarts = 1, int maxIter = 300,
        long seed = 0, string field = "k")
    {
        if (rows.Length < Math.Max(k, 1)) throw new InvalidInputException(field, $"{k} clusters need at least {k} samples, got {rows.Length}");
        int d = rows[0].Length;
        using var scope = NewDisposeScope();
        using var x = tensor(rows.SelectMany(r => r).ToArray(), [rows.Length, d], ScalarType.Float64);
        using var fit = Fit(x, k, restarts, maxIter, 0, seed, field);
        var labels = fit.Labels.data<long>().Select(l => (int)l).ToArray();
        var flat = fit.Centers.contiguous().data<double>().ToArray();
        var centers = Enumerable.Range(0, k).Select(j => flat.AsSpan(j * d, d).ToArray()).ToArray();
        return (labels, centers, fit.Inertia);
    }
}
