using ConceptSuite.Contracts;
using ConceptSuite.Core.Methods;
using ConceptSuite.Discovery.Abstractions;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Discovery.Methods;

/// <summary>
/// FastICA (Hyvärinen 1999; Hyvärinen &amp; Oja 2000), parallel form with the log-cosh contrast.
/// The data are whitened by PCA, z = K(x − μ) with K = Λ^{-1/2}Eᵀ (C components), then the
/// unmixing W [C, C] iterates W ← E[g(Wz) zᵀ] − diag(E[g'(Wz)]) W, g = tanh, g' = 1 − tanh²,
/// followed by symmetric decorrelation W ← (WWᵀ)^{-1/2} W, until max|1 − |diag(W_new Wᵀ)|| &lt; tol.
/// Expectations are summed block by block (memory O(D²), independent of N). Sources s = W K (x − μ)
/// have unit variance; atoms are the mixing directions, the rows of pinv(WK)ᵀ.
/// </summary>
public sealed class FastIca : IConceptDictionary
{
    readonly FastIcaOptions _o;
    Tensor? _unmix, _mix, _mean;

    public FastIca(int concepts, FastIcaOptions options) { Concepts = concepts; _o = options; }

    public string Method => "fastica";
    public int Concepts { get; }
    public int InputDim { get; private set; }
    public bool NonNegativeCodes => false;
    public int Iterations { get; private set; }

    public void Validate(DataStats stats)
    {
        if (Concepts > stats.Dim) throw new InvalidInputException("n_concepts", $"FastICA has at most D = {stats.Dim} components, got {Concepts}");
        if (stats.Samples < 2) throw new InvalidInputException(stats.Field, "FastICA needs at least 2 samples");
    }

    public void Fit(IRowSource data, FitContext ctx)
    {
        InputDim = data.Dim;
        using var scope = NewDisposeScope();
        using var pca = new Pca(Concepts, PcaOptions.Default with { Solver = "exact" });
        pca.Fit(data, new FitContext { Seed = ctx.Seed, CancellationToken = ctx.CancellationToken });
        var st = pca.SaveState();
        var mean = st["mean"];
        var k = st["components"] / st["explained_variance"].clamp_min(1e-12f).sqrt().unsqueeze(1);   // [C, D]
        using var g = new Generator((ulong)ctx.Seed);
        var w = Decorrelate(randn([Concepts, Concepts], generator: g, dtype: ScalarType.Float64));
        int maxIter = _o.MaxIter;
        double tol = _o.Tol;
        for (int it = 0; it < maxIter; it++)
        {
            using var s = NewDisposeScope();
            var gz = zeros(Concepts, Concepts, ScalarType.Float64);
            var gp = zeros(Concepts, ScalarType.Float64);
            long n = 0;
            var w32 = w.to_type(ScalarType.Float32);
            foreach (var block in data.Blocks(16384))
            {
                using var bs = NewDisposeScope();
                ctx.CancellationToken.ThrowIfCancellationRequested();
                var z = (block - mean).matmul(k.t());          // [b, C] whitened
                var y = z.matmul(w32.t()).tanh();
                gz.add_(y.t().matmul(z).to_type(ScalarType.Float64));
                gp.add_((1 - y.square()).sum(0, keepdim: false).to_type(ScalarType.Float64));
                n += block.shape[0];
                block.Dispose();
            }
            var wNew = Decorrelate(gz / n - gp.div(n).unsqueeze(1) * w);
            double lim = (wNew.matmul(w.t()).diagonal().abs() - 1).abs().max().item<double>();
            w = wNew.MoveToOuterDisposeScope();
            Iterations = it + 1;
            ctx.Progress?.Invoke(it + 1, maxIter, "iterations", "fastica");
            if (lim < tol) break;
        }
        var unmix = w.to_type(ScalarType.Float32).matmul(k);          // [C, D]
        var mix = linalg.pinv(unmix.to_type(ScalarType.Float64)).t().to_type(ScalarType.Float32);   // [C, D]
        Replace(unmix.contiguous().MoveToOuterDisposeScope(), mix.contiguous().MoveToOuterDisposeScope(), mean.clone().MoveToOuterDisposeScope());
    }

    /// <summary>(WWᵀ)^{-1/2} W via the eigendecomposition of WWᵀ.</summary>
    static Tensor Decorrelate(Tensor w)
    {
        var (s, u) = linalg.eigh(w.matmul(w.t()));
        return u.matmul(diag(s.clamp_min(1e-20).rsqrt())).matmul(u.t()).matmul(w);
    }

    void Replace(Tensor unmix, Tensor mix, Tensor mean)
    {
        _unmix?.Dispose(); _mix?.Dispose(); _mean?.Dispose();
        _unmix = unmix; _mix = mix; _mean = mean;
        InputDim = (int)unmix.shape[1];
    }

    public Tensor Encode(Tensor x)
    {
        if (_unmix is null) throw NotFitted();
        using var s = NewDisposeScope();
        return (x - _mean!).matmul(_unmix.t()).MoveToOuterDisposeScope();
    }

    public Tensor Decode(Tensor codes)
    {
        if (_mix is null) throw NotFitted();
        using var s = NewDisposeScope();
        return (codes.matmul(_mix) + _mean!).MoveToOuterDisposeScope();
    }

    public Tensor Atoms() => (_mix ?? throw NotFitted()).clone();

    public Dictionary<string, Tensor> SaveState() => new() { ["unmixing"] = _unmix!.clone(), ["mixing"] = Atoms(), ["mean"] = _mean!.clone() };

    public void LoadState(IReadOnlyDictionary<string, Tensor> state) =>
        Replace(state["unmixing"].to_type(ScalarType.Float32).clone(), state["mixing"].to_type(ScalarType.Float32).clone(), state["mean"].to_type(ScalarType.Float32).clone());

    static InvalidOperationException NotFitted() => new("the dictionary is not fitted");

    public void Dispose() { _unmix?.Dispose(); _mix?.Dispose(); _mean?.Dispose(); }
}

/// <summary>Options of <see cref="FastIca"/>.</summary>
public sealed record FastIcaOptions(int MaxIter, double Tol)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Int("max_iter", 200, "fixed-point iterations (passes over the data)", 1, 100000),
        OptionSpec.Float("tol", 1e-4, "convergence tolerance on the unmixing rows", 0, 1),
    ];

    public static FastIcaOptions From(OptionValues o) => new(o.Int("max_iter"), o.Float("tol"));
}
