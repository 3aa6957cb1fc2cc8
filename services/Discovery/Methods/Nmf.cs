using ConceptSuite.Contracts;
using ConceptSuite.Discovery.Abstractions;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Discovery.Methods;

/// <summary>
/// Non-negative matrix factorisation A ≈ U W, U ≥ 0 [N, C], W ≥ 0 [C, D], minimising ½||A − UW||²_F,
/// as CRAFT uses it (Fel et al. 2023). Solvers:
/// <list type="bullet">
/// <item>mu — multiplicative updates (Lee &amp; Seung 2001): U ← U ∘ (AWᵀ) / (UWWᵀ),
/// W ← W ∘ (UᵀA) / (UᵀUW).</item>
/// <item>hals — hierarchical alternating least squares (Cichocki &amp; Phan 2009): column j of U
/// ← max(0, U_j + ((AWᵀ)_j − U (WWᵀ)_j) / (WWᵀ)_jj), and the same for the rows of W with UᵀU, UᵀA.</item>
/// </list>
/// Both decrease the error monotonically. Semi-NMF (Ding, Li &amp; Jordan 2010) for signed
/// activations keeps U ≥ 0 and solves W = (UᵀU)⁻¹UᵀA exactly (mu then uses
/// U ← U ∘ √(([AWᵀ]⁺ + U[WWᵀ]⁻) / ([AWᵀ]⁻ + U[WWᵀ]⁺))).
/// Encode of new data solves the non-negative least-squares problem min_{U≥0} ||A − UW||² with W
/// fixed (HALS sweeps from the clamped least-squares start), not an unconstrained projection.
/// Past <c>in_memory_elements</c> the fit is out of core: each pass solves U block by block with
/// W fixed, accumulates UᵀU and UᵀA, then updates W from those (memory independent of N).
/// </summary>
public sealed class Nmf : IConceptDictionary
{
    public static readonly OptionSpec[] Schema =
    [
        OptionSpec.Choice("solver", "hals", "hals | mu (multiplicative updates)", "hals", "mu"),
        OptionSpec.Bool("semi", false, "semi-NMF: W signed, for activations with negative values"),
        OptionSpec.Int("max_iter", 200, "iterations (in memory) or passes (out of core)", 1, 100000),
        OptionSpec.Float("tol", 1e-4, "stop when the error decrease over 10 iterations is below tol × the initial error", 0, 1),
        OptionSpec.Int("encode_iters", 100, "HALS sweeps of the NNLS solve in Encode and out-of-core passes", 1, 10000),
        OptionSpec.Int("in_memory_elements", 1L << 26, "N·D above which the fit runs out of core", 1, long.MaxValue),
        OptionSpec.Int("error_every", 10, "compute ||A − UW|| every this many iterations (stopping test and ErrorHistory)", 1, 100000),
    ];

    const float Eps = 1e-10f;
    readonly MethodOptions _o;
    Tensor? _w;

    public Nmf(MethodOptions options) { _o = options; }

    public string Method => "nmf";
    public int Concepts => _o.Concepts;
    public int InputDim { get; private set; }
    public bool NonNegativeCodes => true;
    bool Semi => _o.Bool("semi");
    /// <summary>||A − UW||_F at the start and every error_every iterations (in memory), or after each pass (out of core).</summary>
    public List<double> ErrorHistory { get; } = new();

    public void Validate(DataStats stats)
    {
        if (!Semi && stats.Min < 0)
            throw new InvalidInputException(stats.Field, $"holds negative values (min {stats.Min:G4}); plain NMF needs A >= 0 (set options.semi=true for semi-NMF)");
    }

    public void Fit(IRowSource data, FitContext ctx)
    {
        InputDim = data.Dim;
        if (data.Samples * data.Dim <= _o.Long("in_memory_elements"))
        {
            using var x = RowSources.All(data);
            FitInMemory(x, ctx);
        }
        else FitOutOfCore(data, ctx);
    }

    /// <summary>Alternating updates on the whole matrix (U kept between iterations). The stopping test
    /// (as sklearn's): the error decrease over 10 iterations below tol × the initial error.</summary>
    public void FitInMemory(Tensor a, FitContext ctx)
    {
        using var scope = NewDisposeScope();
        InputDim = (int)a.shape[1];
        if (!Semi && a.min().item<float>() < 0) throw new InvalidInputException("activations", "holds negative values; plain NMF needs A >= 0");
        using var g = new Generator((ulong)ctx.Seed);
        var (u0, w) = Init(a, g);
        // U is kept transposed (Uᵀ [C, N]) so HALS updates contiguous rows.
        var u = u0.t().contiguous();
        var at = a.t().contiguous();
        ErrorHistory.Clear();
        double e0 = Error(a, u, w);  // u is Uᵀ
        ErrorHistory.Add(e0);
        int maxIter = _o.Int("max_iter");
        double tol = _o.Float("tol");
        bool hals = _o.Choice("solver") == "hals";
        int every = _o.Int("error_every");
        for (int it = 0; it < maxIter; it++)
        {
            using var s = NewDisposeScope();
            ctx.CancellationToken.ThrowIfCancellationRequested();
            // W step (U fixed), then U step (W fixed).
            var uu = u.matmul(u.t());
            var ua = u.matmul(a);
            if (Semi) w.copy_(SolveSignedW(uu, ua));
            else if (hals) HalsRows(w, uu, ua, Eps);
            else w.mul_(ua / (uu.matmul(w) + Eps));
            var q = w.matmul(w.t());
            var pt = w.matmul(at);                                  // (A Wᵀ)ᵀ
            if (hals) HalsRows(u, q, pt, 0);
            else if (Semi) SemiMultiplicativeU(u, pt, q);
            else u.mul_(pt / (q.matmul(u) + Eps));
            ctx.Progress?.Invoke(it + 1, maxIter, "iterations", "nmf");
            if ((it + 1) % every == 0)
            {
                double e = Error(a, u, w);
                ErrorHistory.Add(e);
                ctx.Metrics?.Invoke(it + 1, new Dictionary<string, double> { ["frobenius_error"] = e });
                if (ErrorHistory[^2] - e < tol * e0 * every / 10.0) break;
            }
        }
        _w?.Dispose();
        _w = w.contiguous().MoveToOuterDisposeScope();
    }

    void FitOutOfCore(IRowSource data, FitContext ctx)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator((ulong)ctx.Seed);
        Tensor w;
        using (var sample = RowSources.Head(data, Math.Max(4L * Concepts, 65536), ctx.Seed))
        {
            (_, w) = Init(sample, g);
            w = w.MoveToOuterDisposeScope();
        }
        int passes = _o.Int("max_iter");
        bool hals = _o.Choice("solver") == "hals";
        double prev = double.PositiveInfinity;
        for (int p = 0; p < passes; p++)
        {
            using var s = NewDisposeScope();
            var uu = zeros(Concepts, Concepts, ScalarType.Float64);
            var ua = zeros(Concepts, InputDim, ScalarType.Float64);
            double err2 = 0;
            foreach (var block in data.Blocks(16384))
            {
                using var bs = NewDisposeScope();
                ctx.CancellationToken.ThrowIfCancellationRequested();
                var u = Nnls(block, w, _o.Int("encode_iters"));
                uu.add_(u.t().matmul(u).to_type(ScalarType.Float64));
                ua.add_(u.t().matmul(block).to_type(ScalarType.Float64));
                err2 += (block - u.matmul(w)).square().sum().to_type(ScalarType.Float64).item<double>();
                block.Dispose();
            }
            var uu32 = uu.to_type(ScalarType.Float32);
            var ua32 = ua.to_type(ScalarType.Float32);
            if (Semi) w.copy_(SolveSignedW(uu32, ua32));
            else if (hals) for (int sweep = 0; sweep < 10; sweep++) HalsRows(w, uu32, ua32, Eps);
            else for (int sweep = 0; sweep < 10; sweep++) w.mul_(ua32 / (uu32.matmul(w) + Eps));
            double e = Math.Sqrt(err2);
            ErrorHistory.Add(e);
            ctx.Progress?.Invoke(p + 1, passes, "passes", "nmf-out-of-core");
            ctx.Metrics?.Invoke(p + 1, new Dictionary<string, double> { ["frobenius_error"] = e });
            if (prev - e < _o.Float("tol") * prev) break;
            prev = e;
        }
        _w?.Dispose();
        _w = w.contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Random init scaled as sklearn's: entries ~ |N(0,1)|·√(mean(A)/C); semi-NMF: U random, W least squares.</summary>
    (Tensor U, Tensor W) Init(Tensor a, Generator g)
    {
        long n = a.shape[0];
        int d = (int)a.shape[1];
        float scale = (float)Math.Sqrt(Math.Max(a.abs().mean().item<float>(), 1e-12f) / Concepts);
        var u = randn([n, Concepts], generator: g).abs_().mul_(scale);
        if (Semi)
        {
            var w = SolveSignedW(u.t().matmul(u), u.t().matmul(a));
            return (u, w);
        }
        var w0 = randn([Concepts, d], generator: g).abs_().mul_(scale);
        return (u, w0);
    }

    /// <summary>W = (UᵀU + εI)⁻¹ UᵀA (the exact W step of semi-NMF).</summary>
    static Tensor SolveSignedW(Tensor uu, Tensor ua)
    {
        var ridge = eye(uu.shape[0]) * (1e-6f * Math.Max(uu.diagonal().mean().item<float>(), 1e-12f));
        return linalg.solve(uu.to_type(ScalarType.Float64) + ridge.to_type(ScalarType.Float64), ua.to_type(ScalarType.Float64)).to_type(ScalarType.Float32);
    }

    /// <summary>
    /// HALS on the rows of X (W [C, D] with G = UᵀU, B = UᵀA; or Uᵀ [C, N] with G = WWᵀ, B = WAᵀ):
    /// X_j ← max(floor, X_j + (B_j − G_j X) / G_jj), one row after the other (each an exact
    /// coordinate-block minimisation, so the error never increases). Valid for signed A and W.
    /// </summary>
    static void HalsRows(Tensor x, Tensor gram, Tensor b, float floor)
    {
        long k = x.shape[0];
        var diag = gram.diagonal().contiguous().data<float>().ToArray();
        for (long j = 0; j < k; j++)
        {
            if (diag[j] <= 0) continue;
            using var s = NewDisposeScope();
            var row = x[j];
            row.add_((b[j] - gram[j].matmul(x)).div_(diag[j])).clamp_min_(floor);
        }
    }

    /// <summary>Semi-NMF multiplicative U update (Ding, Li &amp; Jordan 2010, eq. 8), on Uᵀ with Pᵀ = WAᵀ, Q = WWᵀ.</summary>
    static void SemiMultiplicativeU(Tensor ut, Tensor pt, Tensor q)
    {
        var num = pt.clamp_min(0) + q.clamp_max(0).neg().matmul(ut);
        var den = pt.clamp_max(0).neg() + q.clamp_min(0).matmul(ut) + Eps;
        ut.mul_((num / den).sqrt_());
    }

    /// <summary>||A − UW||_F with U given transposed (Uᵀ [C, N]).</summary>
    static double Error(Tensor a, Tensor ut, Tensor w)
    {
        using var s = NewDisposeScope();
        return Math.Sqrt((a - ut.t().matmul(w)).to_type(ScalarType.Float64).square().sum().item<double>());
    }

    /// <summary>min_{U≥0} ||A − UW||²: start from the clamped least-squares solution, then HALS sweeps (on Uᵀ).</summary>
    public static Tensor Nnls(Tensor a, Tensor w, int iters)
    {
        using var s = NewDisposeScope();
        var q = w.matmul(w.t());
        var pt = w.matmul(a.t());
        var ridge = eye(q.shape[0]) * (1e-6f * Math.Max(q.diagonal().mean().item<float>(), 1e-12f));
        var ut = linalg.solve(q + ridge, pt).clamp_min(0).contiguous();
        for (int i = 0; i < iters; i++) HalsRows(ut, q, pt, 0);
        return ut.t().contiguous().MoveToOuterDisposeScope();
    }

    public Tensor Encode(Tensor x) => Nnls(x, _w ?? throw NotFitted(), _o.Int("encode_iters"));

    public Tensor Decode(Tensor codes) => codes.matmul(_w ?? throw NotFitted());

    public Tensor Atoms() => (_w ?? throw NotFitted()).clone();

    public Dictionary<string, Tensor> SaveState() => new() { ["components"] = Atoms() };

    public void LoadState(IReadOnlyDictionary<string, Tensor> state)
    {
        _w?.Dispose();
        _w = state["components"].to_type(ScalarType.Float32).contiguous().clone();
        InputDim = (int)_w.shape[1];
    }

    static InvalidOperationException NotFitted() => new("the dictionary is not fitted");

    public void Dispose() => _w?.Dispose();
}
