using ConceptSuite.Contracts;
using ConceptSuite.Discovery.Abstractions;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Discovery.Methods;

/// <summary>
/// K-means: minimise the inertia Σ_i min_j ||x_i − c_j||² over C centroids. Initialisation by
/// greedy k-means++ (Arthur &amp; Vassilvitskii 2007: each next centre drawn with probability ∝
/// D(x)², best of 2 + ⌊ln C⌋ candidates) on a sample. Lloyd iterations stream over blocks
/// (assign, then c_j = mean of its members; the inertia never increases); past
/// <c>minibatch_threshold</c> samples, mini-batch k-means (Sculley 2010: per-centre learning
/// rate 1/count). Codes are one-hot cluster indicators (U of the unified view), so Decode gives
/// the assigned centroid.
/// </summary>
public sealed class KMeans : IConceptDictionary
{
    public static readonly OptionSpec[] Schema =
    [
        OptionSpec.Choice("init", "k-means++", "k-means++ | random", "k-means++", "random"),
        OptionSpec.Int("max_iter", 100, "Lloyd: passes over the data; mini-batch: passes as well", 1, 100000),
        OptionSpec.Float("tol", 1e-4, "stop when the relative inertia decrease is below tol", 0, 1),
        OptionSpec.Choice("solver", "auto", "lloyd | minibatch | auto (minibatch past minibatch_threshold samples)", "auto", "lloyd", "minibatch"),
        OptionSpec.Int("minibatch_threshold", 1_000_000, "samples above which auto picks mini-batch", 1, long.MaxValue),
        OptionSpec.Int("batch_size", 4096, "mini-batch size", 1, 1 << 22),
        OptionSpec.Int("init_samples", 65536, "samples drawn for the k-means++ initialisation", 1, 1 << 24),
    ];

    readonly MethodOptions _o;
    Tensor? _centroids;

    public KMeans(MethodOptions options) { _o = options; }

    public string Method => "kmeans";
    public int Concepts => _o.Concepts;
    public int InputDim { get; private set; }
    public bool NonNegativeCodes => true;
    /// <summary>Inertia at each pass (Lloyd: of the centroids the pass started from).</summary>
    public List<double> InertiaHistory { get; } = new();
    /// <summary>Inertia of the final centroids.</summary>
    public double Inertia { get; private set; }

    public void Validate(DataStats stats)
    {
        if (Concepts > stats.Samples) throw new InvalidInputException("n_concepts", $"k-means needs n_concepts <= samples ({stats.Samples}), got {Concepts}");
    }

    public void Fit(IRowSource data, FitContext ctx)
    {
        InputDim = data.Dim;
        using var g = new Generator((ulong)ctx.Seed);
        using (var sample = RowSources.Head(data, Math.Max(Concepts, _o.Long("init_samples")), ctx.Seed))
        {
            var c = _o.Choice("init") == "k-means++" ? PlusPlus(sample, Concepts, g) : RandomInit(sample, Concepts, g);
            _centroids?.Dispose();
            _centroids = c;
        }
        var solver = _o.Choice("solver");
        if (solver == "auto") solver = data.Samples > _o.Long("minibatch_threshold") ? "minibatch" : "lloyd";
        if (solver == "lloyd") Lloyd(data, ctx); else MiniBatch(data, ctx);
        Inertia = Pass(data, null, null, ctx);
    }

    /// <summary>Greedy k-means++ on a sample.</summary>
    public static Tensor PlusPlus(Tensor x, int k, Generator g)
    {
        using var scope = NewDisposeScope();
        long n = x.shape[0];
        int trials = 2 + (int)Math.Log(k);
        var sq = x.square().sum(1);
        var first = randint(0, n, [1], generator: g);
        var centers = new List<Tensor> { x.index_select(0, first) };
        var closest = Dist2(x, sq, centers[0]).squeeze(1);
        for (int c = 1; c < k; c++)
        {
            var total = closest.sum();
            Tensor cand;
            if (total.item<float>() <= 0) cand = randint(0, n, [trials], generator: g);
            else cand = multinomial(closest / total, trials, replacement: true, generator: g);
            var candX = x.index_select(0, cand);
            var d = Dist2(x, sq, candX);                     // [n, trials]
            var pots = minimum(d, closest.unsqueeze(1)).sum(0, keepdim: false);
            var best = pots.argmin().item<long>();
            centers.Add(candX.narrow(0, best, 1));
            closest = minimum(closest, d.select(1, best));
        }
        return cat(centers, 0).contiguous().MoveToOuterDisposeScope();
    }

    static Tensor RandomInit(Tensor x, int k, Generator g)
    {
        using var perm = randperm(x.shape[0], generator: g);
        using var idx = perm.narrow(0, 0, k);
        return x.index_select(0, idx).contiguous();
    }

    /// <summary>||x − c||² for every pair, clamped at 0: [n, k].</summary>
    static Tensor Dist2(Tensor x, Tensor xsq, Tensor c) =>
        (xsq.unsqueeze(1) - 2 * x.matmul(c.t()) + c.square().sum(1).unsqueeze(0)).clamp_min(0);

    /// <summary>Assigns every sample to its nearest centroid; accumulates sums and counts when given. Returns the inertia.</summary>
    double Pass(IRowSource data, Tensor? sums, Tensor? counts, FitContext ctx)
    {
        double inertia = 0;
        foreach (var block in data.Blocks(16384))
        {
            using var s = NewDisposeScope();
            ctx.CancellationToken.ThrowIfCancellationRequested();
            var d = Dist2(block, block.square().sum(1), _centroids!);
            var (minD, idx) = d.min(1);
            inertia += minD.to_type(ScalarType.Float64).sum().item<double>();
            if (sums is not null)
            {
                sums.index_add_(0, idx, block.to_type(ScalarType.Float64), 1);
                counts!.index_add_(0, idx, ones(idx.shape[0], ScalarType.Float64), 1);
            }
            block.Dispose();
        }
        return inertia;
    }

    void Lloyd(IRowSource data, FitContext ctx)
    {
        int maxIter = _o.Int("max_iter");
        double tol = _o.Float("tol");
        for (int it = 0; it < maxIter; it++)
        {
            using var s = NewDisposeScope();
            var sums = zeros(Concepts, InputDim, ScalarType.Float64);
            var counts = zeros(Concepts, ScalarType.Float64);
            double inertia = Pass(data, sums, counts, ctx);
            InertiaHistory.Add(inertia);
            // Empty clusters keep their centroid (the inertia still cannot increase).
            var nonEmpty = (counts > 0).unsqueeze(1);
            var updated = where(nonEmpty, (sums / counts.clamp_min(1).unsqueeze(1)).to_type(ScalarType.Float32), _centroids!);
            _centroids!.copy_(updated);
            ctx.Progress?.Invoke(it + 1, maxIter, "iterations", "kmeans");
            ctx.Metrics?.Invoke(it, new Dictionary<string, double> { ["inertia"] = inertia });
            if (InertiaHistory.Count >= 2)
            {
                double prev = InertiaHistory[^2];
                if (prev - inertia <= tol * Math.Max(prev, 1e-30)) break;
            }
        }
    }

    void MiniBatch(IRowSource data, FitContext ctx)
    {
        int passes = _o.Int("max_iter");
        int batch = _o.Int("batch_size");
        var counts = zeros(Concepts, ScalarType.Float32);
        try
        {
            double prev = double.PositiveInfinity;
            for (int p = 0; p < passes; p++)
            {
                double inertia = 0;
                foreach (var block in data.Blocks(batch, ctx.Seed + 7919L * (p + 1)))
                {
                    using var s = NewDisposeScope();
                    ctx.CancellationToken.ThrowIfCancellationRequested();
                    var d = Dist2(block, block.square().sum(1), _centroids!);
                    var (minD, idx) = d.min(1);
                    inertia += minD.to_type(ScalarType.Float64).sum().item<double>();
                    var bsum = zeros(Concepts, InputDim).index_add_(0, idx, block, 1);
                    var bcount = zeros(Concepts).index_add_(0, idx, ones(idx.shape[0]), 1);
                    counts.add_(bcount);
                    // c ← c + (Σ_batch x − n_b c) / count: the running mean with rate 1/count.
                    var step = (bsum - bcount.unsqueeze(1) * _centroids!) / counts.clamp_min(1).unsqueeze(1);
                    _centroids!.add_(step);
                    block.Dispose();
                }
                InertiaHistory.Add(inertia);
                ctx.Progress?.Invoke(p + 1, passes, "passes", "kmeans-minibatch");
                if (prev - inertia <= _o.Float("tol") * prev) break;
                prev = inertia;
            }
        }
        finally { counts.Dispose(); }
    }

    /// <summary>Index of the nearest centroid [n].</summary>
    public Tensor Assign(Tensor x)
    {
        using var s = NewDisposeScope();
        return Dist2(x, x.square().sum(1), _centroids ?? throw NotFitted()).argmin(1).MoveToOuterDisposeScope();
    }

    public Tensor Encode(Tensor x)
    {
        using var s = NewDisposeScope();
        var idx = Assign(x);
        return nn.functional.one_hot(idx, Concepts).to_type(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    public Tensor Decode(Tensor codes) => codes.matmul(_centroids ?? throw NotFitted());

    public Tensor Atoms() => (_centroids ?? throw NotFitted()).clone();

    public Dictionary<string, Tensor> SaveState() => new()
    {
        ["centroids"] = Atoms(),
        ["inertia"] = tensor(new[] { Inertia }),
    };

    public void LoadState(IReadOnlyDictionary<string, Tensor> state)
    {
        _centroids?.Dispose();
        _centroids = state["centroids"].to_type(ScalarType.Float32).contiguous().clone();
        InputDim = (int)_centroids.shape[1];
        Inertia = state["inertia"].to_type(ScalarType.Float64).item<double>();
    }

    static InvalidOperationException NotFitted() => new("the dictionary is not fitted");

    public void Dispose() => _centroids?.Dispose();
}
