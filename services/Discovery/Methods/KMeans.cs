using ConceptSuite.Contracts;
using ConceptSuite.Core.Methods;
using ConceptSuite.Discovery.Abstractions;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Discovery.Methods;

/// <summary>
/// K-means as a concept dictionary: minimise the inertia Σ_i min_j ||x_i − c_j||² over C
/// centroids. Seeding (greedy k-means++ on a sample) and the Lloyd passes over streamed blocks are
/// the suite's one k-means, <see cref="Core.Numerics.KMeans"/> (the inertia never increases); past
/// <c>minibatch_threshold</c> samples, mini-batch k-means (Sculley 2010: per-centre learning
/// rate 1/count). Codes are one-hot cluster indicators (U of the unified view), so Decode gives
/// the assigned centroid.
/// </summary>
public sealed class KMeans : AtomDictionary
{
    readonly KMeansOptions _o;

    public KMeans(int concepts, KMeansOptions options) : base(concepts) { _o = options; }

    protected override string StateKey => "centroids";

    public override string Method => "kmeans";
    public override bool NonNegativeCodes => true;
    /// <summary>Inertia at each pass (Lloyd: of the centroids the pass started from).</summary>
    public List<double> InertiaHistory { get; } = new();
    /// <summary>Inertia of the final centroids.</summary>
    public double Inertia { get; private set; }

    public override void Validate(DataStats stats)
    {
        if (Concepts > stats.Samples) throw new InvalidInputException("n_concepts", $"k-means needs n_concepts <= samples ({stats.Samples}), got {Concepts}");
    }

    public override void Fit(IRowSource data, FitContext ctx)
    {
        InputDim = data.Dim;
        using var g = new Generator((ulong)ctx.Seed);
        using (var sample = RowSources.Head(data, Math.Max(Concepts, _o.InitSamples), ctx.Seed))
        {
            var c = _o.Init == "k-means++" ? Core.Numerics.KMeans.PlusPlus(sample, Concepts, g) : RandomInit(sample, Concepts, g);
            W?.Dispose();
            W = c;
        }
        var solver = _o.Solver;
        if (solver == "auto") solver = data.Samples > _o.MinibatchThreshold ? "minibatch" : "lloyd";
        if (solver == "lloyd") Lloyd(data, ctx); else MiniBatch(data, ctx);
        Inertia = Core.Numerics.KMeans.Inertia(data.Blocks(16384), W!, ctx.CancellationToken);
    }

    static Tensor RandomInit(Tensor x, int k, Generator g)
    {
        using var perm = randperm(x.shape[0], generator: g);
        using var idx = perm.narrow(0, 0, k);
        return x.index_select(0, idx).contiguous();
    }

    void Lloyd(IRowSource data, FitContext ctx)
    {
        int maxIter = _o.MaxIter;
        var history = Core.Numerics.KMeans.Lloyd(() => data.Blocks(16384), W!, maxIter, _o.Tol, ctx.CancellationToken,
            (it, inertia) =>
            {
                ctx.Progress?.Invoke(it + 1, maxIter, "iterations", "kmeans");
                ctx.Metrics?.Invoke(it, new Dictionary<string, double> { ["inertia"] = inertia });
            });
        InertiaHistory.AddRange(history);
    }

    void MiniBatch(IRowSource data, FitContext ctx)
    {
        int passes = _o.MaxIter;
        int batch = _o.BatchSize;
        var counts = zeros(Concepts, ScalarType.Float64);
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
                    var bsum = zeros(Concepts, InputDim, ScalarType.Float64);
                    var bcount = zeros(Concepts, ScalarType.Float64);
                    inertia += Core.Numerics.KMeans.Accumulate(block, W!, bsum, bcount);
                    counts.add_(bcount);
                    // c ← c + (Σ_batch x − n_b c) / count: the running mean with rate 1/count.
                    var step = ((bsum - bcount.unsqueeze(1) * W!) / counts.clamp_min(1).unsqueeze(1)).to_type(ScalarType.Float32);
                    W!.add_(step);
                    block.Dispose();
                }
                InertiaHistory.Add(inertia);
                ctx.Progress?.Invoke(p + 1, passes, "passes", "kmeans-minibatch");
                if (prev - inertia <= _o.Tol * prev) break;
                prev = inertia;
            }
        }
        finally { counts.Dispose(); }
    }

    /// <summary>Index of the nearest centroid [n].</summary>
    public Tensor Assign(Tensor x)
    {
        return Core.Numerics.KMeans.Assign(x, W ?? throw NotFitted());
    }

    public override Tensor Encode(Tensor x)
    {
        using var s = NewDisposeScope();
        var idx = Assign(x);
        return nn.functional.one_hot(idx, Concepts).to_type(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    public override Dictionary<string, Tensor> SaveState()
    {
        var state = base.SaveState();
        state["inertia"] = tensor(new[] { Inertia });
        return state;
    }

    public override void LoadState(IReadOnlyDictionary<string, Tensor> state)
    {
        base.LoadState(state);
        Inertia = state["inertia"].to_type(ScalarType.Float64).item<double>();
    }
}

/// <summary>Options of <see cref="KMeans"/>.</summary>
public sealed record KMeansOptions(string Init, int MaxIter, double Tol, string Solver, long MinibatchThreshold, int BatchSize, long InitSamples)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Choice("init", "k-means++", "k-means++ | random", "k-means++", "random"),
        OptionSpec.Int("max_iter", 100, "Lloyd: passes over the data; mini-batch: passes as well", 1, 100000),
        OptionSpec.Float("tol", 1e-4, "stop when the relative inertia decrease is below tol", 0, 1),
        OptionSpec.Choice("solver", "auto", "lloyd | minibatch | auto (minibatch past minibatch_threshold samples)", "auto", "lloyd", "minibatch"),
        OptionSpec.Int("minibatch_threshold", 1_000_000, "samples above which auto picks mini-batch", 1, long.MaxValue),
        OptionSpec.Int("batch_size", 4096, "mini-batch size", 1, 1 << 22),
        OptionSpec.Int("init_samples", 65536, "samples drawn for the k-means++ initialisation", 1, 1 << 24),
    ];

    public static KMeansOptions From(OptionValues o) =>
        new(o.Choice("init"), o.Int("max_iter"), o.Float("tol"), o.Choice("solver"), o.Long("minibatch_threshold"), o.Int("batch_size"), o.Long("init_samples"));
}
