using ConceptSuite.Contracts;
using ConceptSuite.Discovery.Numerics;
using ConceptSuite.Core.Methods;
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
public sealed class Nmf : AtomDictionary
{

    const float Eps = 1e-10f;
    readonly NmfOptions _o;

    public Nmf(int concepts, NmfOptions options) : base(concepts) { _o = options; }

    protected override string StateKey => "components";

    public override string Method => "nmf";
    public override bool NonNegativeCodes => true;
    bool Semi => _o.Semi;
    /// <summary>||A − UW||_F at the start and every error_every iterations (in memory), or after each pass (out of core).</summary>
    public List<double> ErrorHistory { get; } = new();
    /// <summary>Iterations (in memory) or passes (out of core) the last fit ran.</summary>
    public int Iterations { get; private set; }

    public override void Validate(DataStats stats)
    {
        if (!Semi && stats.Min < 0)
            throw new InvalidInputException(stats.Field, $"holds negative values (min {stats.Min:G4}); plain NMF needs A >= 0 (set options.semi=true for semi-NMF)");
    }

    public override void Fit(IRowSource data, FitContext ctx)
    {
        InputDim = data.Dim;
        if (data.Samples * data.Dim <= _o.InMemoryElements)
        {
            using var x = RowSources.All(data);
            FitInMemory(x, ctx);
        }
        else FitOutOfCore(data, ctx);
    }

    /// <summary>Alternating updates on the whole matrix (U kept between iterations). The stopping test:
    /// the error decrease over 10 iterations below tol × the error (relative to the current error, not
    /// the initial one, which NNDSVDa's mean fill makes large). HALS runs
    /// the accelerated inner sweeps of <see cref="Hals"/> (up to <see cref="InnerSweeps"/> per factor).</summary>
    public void FitInMemory(Tensor a, FitContext ctx)
    {
        using var scope = NewDisposeScope();
        InputDim = (int)a.shape[1];
        if (!Semi && a.min().item<float>() < 0) throw new InvalidInputException("activations", "holds negative values; plain NMF needs A >= 0");
        using var g = new Generator((ulong)ctx.Seed);
        var (u0, w) = Init(a, g);
        // U is kept transposed (Uᵀ [C, N]): HALS then works on contiguous rows of both factors.
        var ut = u0.t().contiguous();
        // Aᵀ [D, N] contiguous: both products read it (UᵀA = Uᵀ·(Aᵀ)ᵀ and WAᵀ), measured faster than A itself.
        var at = a.t().contiguous();
        long n = a.shape[0];
        ErrorHistory.Clear();
        double a2 = a.square().sum(type: ScalarType.Float64).item<double>();
        ErrorHistory.Add(Error(a, ut, w));
        int maxIter = _o.MaxIter;
        double tol = _o.Tol;
        bool hals = _o.Solver == "hals";
        int every = _o.ErrorEvery;
        var (sweepsU, sweepsW) = (InnerSweeps(n, InputDim, Concepts), InnerSweeps(InputDim, n, Concepts));
        var uu = ut.matmul(ut.t());
        for (int it = 0; it < maxIter; it++)
        {
            using var s = NewDisposeScope();
            ctx.CancellationToken.ThrowIfCancellationRequested();
            // W step (U fixed), then U step (W fixed).
            var ua = ut.matmul(at.t());                             // UᵀA [C, D]
            if (Semi) w.copy_(SolveSignedW(uu, ua));
            else if (hals) Hals.Solve(w, ua, uu, Eps, sweepsW, InnerStop);
            else w.mul_(ua / (uu.matmul(w) + Eps));
            var q = w.matmul(w.t());                                // WWᵀ [C, C]
            var pt = w.matmul(at);                                  // (AWᵀ)ᵀ [C, N]
            if (hals) Hals.Solve(ut, pt, q, 0, sweepsU, InnerStop);
            else if (Semi) SemiMultiplicativeU(ut, pt, q);
            else ut.mul_(pt / (q.matmul(ut) + Eps));
            uu.copy_(ut.matmul(ut.t()));                            // UᵀU of the next W step, and of the error
            ctx.Progress?.Invoke(it + 1, maxIter, "iterations", "nmf");
            Iterations = it + 1;
            if ((it + 1) % every == 0)
            {
                double e = ErrorFromProducts(a, ut, w, pt, q, uu, a2);
                ErrorHistory.Add(e);
                ctx.Metrics?.Invoke(it + 1, new Dictionary<string, double> { ["frobenius_error"] = e });
                if (ErrorHistory[^2] - e < tol * e * every / 10.0) break;
            }
        }
        W?.Dispose();
        W = w.contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Accelerated-HALS stopping ratio (Gillis &amp; Glineur's ε = 0.1, on squared moves).</summary>
    const double InnerStop = 0.01;

    /// <summary>
    /// Inner sweeps per HALS update of a factor with <paramref name="rows"/> codes of width c, when the
    /// products it needs cost rows·other·c multiply-adds: 1 + ⌊½ · (product cost) / (sweep cost)⌋
    /// (Gillis &amp; Glineur 2012, α = ½), so the sweeps cost at most half of what the products did.
    /// </summary>
    static int InnerSweeps(long rows, long other, int c) =>
        (int)Math.Min(1000, 1 + 0.5 * (rows * (double)other * c + other * (double)c * c) / (rows * (double)c * (c + 1)));

    /// <summary>
    /// ‖A − UW‖ from products the iteration already has: ‖A‖² − 2⟨U, AWᵀ⟩ + ⟨UᵀU, WWᵀ⟩ (float64 sums).
    /// The cancellation costs about 1e-7·‖A‖² of absolute accuracy in the square, so when the error is
    /// below a tenth of ‖A‖ it is recomputed from the residual instead.
    /// </summary>
    static double ErrorFromProducts(Tensor a, Tensor ut, Tensor w, Tensor pt, Tensor q, Tensor uu, double a2)
    {
        using var s = NewDisposeScope();
        double cross = ut.mul(pt).sum(type: ScalarType.Float64).item<double>();
        double quad = uu.to_type(ScalarType.Float64).mul(q.to_type(ScalarType.Float64)).sum().item<double>();
        double e2 = a2 - 2 * cross + quad;
        return e2 >= 1e-2 * a2 ? Math.Sqrt(e2) : Error(a, ut, w);
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
        int passes = _o.MaxIter;
        bool hals = _o.Solver == "hals";
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
                var u = Nnls(block, w, _o.EncodeIters);
                uu.add_(u.t().matmul(u).to_type(ScalarType.Float64));
                ua.add_(u.t().matmul(block).to_type(ScalarType.Float64));
                err2 += (block - u.matmul(w)).square().sum().to_type(ScalarType.Float64).item<double>();
                block.Dispose();
            }
            var uu32 = uu.to_type(ScalarType.Float32);
            var ua32 = ua.to_type(ScalarType.Float32);
            if (Semi) w.copy_(SolveSignedW(uu32, ua32));
            else if (hals) Hals.Solve(w, ua32, uu32, Eps, 10);
            else for (int sweep = 0; sweep < 10; sweep++) w.mul_(ua32 / (uu32.matmul(w) + Eps));
            double e = Math.Sqrt(err2);
            ErrorHistory.Add(e);
            ctx.Progress?.Invoke(p + 1, passes, "passes", "nmf-out-of-core");
            Iterations = p + 1;
            ctx.Metrics?.Invoke(p + 1, new Dictionary<string, double> { ["frobenius_error"] = e });
            if (prev - e < _o.Tol * prev) break;
            prev = e;
        }
        W?.Dispose();
        W = w.contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Random init scaled as sklearn's: entries ~ |N(0,1)|·√(mean(A)/C), or NNDSVDa; semi-NMF: U random, W least squares.</summary>
    (Tensor U, Tensor W) Init(Tensor a, Generator g)
    {
        long n = a.shape[0];
        int d = (int)a.shape[1];
        float mean = Math.Max(a.abs().mean().item<float>(), 1e-12f);
        float scale = (float)Math.Sqrt(mean / Concepts);
        if (!Semi && _o.Init == "nndsvda" && Concepts <= Math.Min(n, d)) return Nndsvda(a, mean);
        var u = randn([n, Concepts], generator: g).abs_().mul_(scale);
        if (Semi)
        {
            var w = SolveSignedW(u.t().matmul(u), u.t().matmul(a));
            return (u, w);
        }
        var w0 = randn([Concepts, d], generator: g).abs_().mul_(scale);
        return (u, w0);
    }

    /// <summary>
    /// NNDSVDa (Boutsidis &amp; Gallopoulos 2008): from the top-C singular triplets (σ, u, v) of A (the
    /// eigenvectors of AᵀA in float64, u = Av/σ), component j takes the positive or negative parts of
    /// (u_j, v_j), whichever has the larger product of norms, scaled to carry σ_j; zeros are set to mean(A).
    /// </summary>
    (Tensor U, Tensor W) Nndsvda(Tensor a, float mean)
    {
        using var scope = NewDisposeScope();
        var gram = a.t().matmul(a).to_type(ScalarType.Float64);
        var (evals, evecs) = linalg.eigh((gram + gram.t()) / 2);
        var order = evals.argsort(descending: true).narrow(0, 0, Concepts);
        var sigma = evals.index_select(0, order).clamp_min(0).sqrt();
        var v = evecs.index_select(1, order);                                   // [D, C]
        var u = a.to_type(ScalarType.Float64).matmul(v) / sigma.clamp_min(1e-300).unsqueeze(0);   // [N, C]
        var us = new Tensor[Concepts];
        var ws = new Tensor[Concepts];
        for (int j = 0; j < Concepts; j++)
        {
            var (x, y) = (u[.., j], v[.., j]);
            Tensor ux, vy;
            double s;
            if (j == 0) { (ux, vy, s) = (x.abs(), y.abs(), 1); }
            else
            {
                var (xp, xn, yp, yn) = (x.clamp_min(0), x.clamp_max(0).neg(), y.clamp_min(0), y.clamp_max(0).neg());
                double xpn = xp.norm().item<double>(), ypn = yp.norm().item<double>(), xnn = xn.norm().item<double>(), ynn = yn.norm().item<double>();
                (ux, vy, s) = xpn * ypn >= xnn * ynn ? (xp / Math.Max(xpn, 1e-300), yp / Math.Max(ypn, 1e-300), xpn * ypn) : (xn / Math.Max(xnn, 1e-300), yn / Math.Max(ynn, 1e-300), xnn * ynn);
            }
            double f = Math.Sqrt(sigma[j].item<double>() * s);
            us[j] = ux * f;
            ws[j] = vy * f;
        }
        var u0 = stack(us, 1).to_type(ScalarType.Float32);
        var w0 = stack(ws, 0).to_type(ScalarType.Float32);
        u0.masked_fill_(u0 == 0, mean);
        w0.masked_fill_(w0 == 0, mean);
        return (u0.contiguous().MoveToOuterDisposeScope(), w0.contiguous().MoveToOuterDisposeScope());
    }

    /// <summary>W = (UᵀU + εI)⁻¹ UᵀA (the exact W step of semi-NMF).</summary>
    static Tensor SolveSignedW(Tensor uu, Tensor ua)
    {
        var ridge = eye(uu.shape[0]) * (1e-6f * Math.Max(uu.diagonal().mean().item<float>(), 1e-12f));
        return linalg.solve(uu.to_type(ScalarType.Float64) + ridge.to_type(ScalarType.Float64), ua.to_type(ScalarType.Float64)).to_type(ScalarType.Float32);
    }

    /// <summary>Semi-NMF multiplicative U update (Ding, Li &amp; Jordan 2010, eq. 8), on Uᵀ with Pᵀ = WAᵀ, Q = WWᵀ.</summary>
    static void SemiMultiplicativeU(Tensor ut, Tensor pt, Tensor q)
    {
        var num = pt.clamp_min(0) + q.clamp_max(0).neg().matmul(ut);
        var den = pt.clamp_max(0).neg() + q.clamp_min(0).matmul(ut) + Eps;
        ut.mul_((num / den).sqrt_());
    }

    /// <summary>||A − UW||_F from the residual, with U given transposed (Uᵀ [C, N]).</summary>
    static double Error(Tensor a, Tensor ut, Tensor w)
    {
        using var s = NewDisposeScope();
        return Math.Sqrt(addmm(a, ut.t(), w, beta: 1, alpha: -1).square().sum(type: ScalarType.Float64).item<double>());
    }

    /// <summary>min_{U≥0} ||A − UW||²: start from the clamped least-squares solution, then HALS sweeps.</summary>
    public static Tensor Nnls(Tensor a, Tensor w, int iters)
    {
        using var s = NewDisposeScope();
        var q = w.matmul(w.t());
        var pt = w.matmul(a.t());
        var ridge = eye(q.shape[0]) * (1e-6f * Math.Max(q.diagonal().mean().item<float>(), 1e-12f));
        var ut = linalg.solve(q + ridge, pt).clamp_min(0).contiguous();
        Hals.Solve(ut, pt, q, 0, iters);
        return ut.t().contiguous().MoveToOuterDisposeScope();
    }

    public override Tensor Encode(Tensor x) => Nnls(x, W ?? throw NotFitted(), _o.EncodeIters);

}

/// <summary>Options of <see cref="Nmf"/>.</summary>
public sealed record NmfOptions(string Solver, string Init, bool Semi, int MaxIter, double Tol, int EncodeIters, long InMemoryElements, int ErrorEvery)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Choice("solver", "hals", "hals | mu (multiplicative updates)", "hals", "mu"),
        OptionSpec.Choice("init", "nndsvda", "nndsvda (non-negative double SVD, zeros filled with mean(A); Boutsidis & Gallopoulos 2008; sklearn's default) | random (|N(0,1)|·√(mean(A)/C), as sklearn's)", "nndsvda", "random"),
        OptionSpec.Bool("semi", false, "semi-NMF: W signed, for activations with negative values"),
        OptionSpec.Int("max_iter", 200, "iterations (in memory) or passes (out of core)", 1, 100000),
        OptionSpec.Float("tol", 1e-4, "stop when the error decrease over 10 iterations is below tol × the error", 0, 1),
        OptionSpec.Int("encode_iters", 100, "HALS sweeps of the NNLS solve in Encode and out-of-core passes", 1, 10000),
        OptionSpec.Int("in_memory_elements", 1L << 26, "N·D above which the fit runs out of core", 1, long.MaxValue),
        OptionSpec.Int("error_every", 10, "compute ||A − UW|| every this many iterations (stopping test and ErrorHistory)", 1, 100000),
    ];

    public static NmfOptions From(OptionValues o) =>
        new(o.Choice("solver"), o.Choice("init"), o.Bool("semi"), o.Int("max_iter"), o.Float("tol"), o.Int("encode_iters"), o.Long("in_memory_elements"), o.Int("error_every"));
}
