using ConceptSuite.Contracts;
using ConceptSuite.Core.Methods;
using ConceptSuite.Core.Numerics;
using ConceptSuite.Discovery.Abstractions;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Discovery.Methods;

/// <summary>
/// Concept CCA (CoCCA) and Sparse Concept CCA (SCoCCA), after "SCoCCA: Multi-modal Sparse Concept
/// Decomposition via Canonical Correlation Analysis": concepts of two paired modalities (row i of
/// X [N, D₁] and of Y [N, D₂] describe one example, e.g. an image embedding and its caption's text
/// embedding) found in their shared canonical space.
/// <list type="number">
/// <item>Alignment: ridge CCA (<see cref="CanonicalCorrelation.Fit"/>) gives projections A [D₁, r] and
/// B [D₂, r]; z_x = (x − μ_x) A and z_y = (y − μ_y) B are the canonical variates, maximally
/// correlated pair by pair, so the two modalities meet in one r-dimensional space.</item>
/// <item>Decomposition: a dictionary D [C, r] of concept vectors in that space, learned on the variates
/// of both modalities stacked ([Z_x; Z_y], 2N rows), by
/// min ½||Z − U D||² + λ||U||₁ with unit-norm atoms (<see cref="SparseDictionaryLearning"/>: FISTA codes,
/// block-coordinate atom updates). CoCCA is λ = 0 (dense least-squares codes); SCoCCA is λ &gt; 0,
/// optionally with non-negative codes, for sparse, more disentangled concepts.</item>
/// <item>Back to each modality: P_x [r, D₁] = argmin ||Z_x P − X_c||² (likewise P_y), so Decode is
/// x̂ = u D P_x + μ_x and the atoms in activation space are D P_x [C, D₁] (what GetDictionary and
/// NameConcepts see). The paired modality uses B, P_y and μ_y through <see cref="PairedSide"/>.</item>
/// </list>
/// The fit holds both modalities in memory (float64) once; it is deterministic (the atoms start
/// from rows chosen by the fit's seed; CCA has no randomness).
/// </summary>
public sealed class ConceptCca : IPairedDictionary
{
    readonly ConceptCcaOptions _o;
    readonly SparseDictionaryLearning _codes;
    Tensor? _meanX, _meanY, _projX, _projY, _backX, _backY, _rho;
    PairedView? _paired;

    public ConceptCca(int concepts, ConceptCcaOptions options)
    {
        Concepts = concepts;
        _o = options;
        _codes = new SparseDictionaryLearning(concepts, new SparseDictionaryLearningOptions(options.Sparsity, "fista", options.CodeIters, options.MaxIter, options.Positive));
    }

    public string Method => _o.Sparsity > 0 ? "scocca" : "cocca";
    public int Concepts { get; }
    public int InputDim { get; private set; }
    public int PairedDim { get; private set; }
    public bool NonNegativeCodes => _o.Positive;
    /// <summary>The (ridge-regularised) canonical correlations of the kept pairs, descending.</summary>
    public Tensor CanonicalCorrelations => _rho ?? throw NotFitted();
    /// <summary>r: canonical dimensions kept (canonical_dims, or fewer when a side's rank is lower).</summary>
    public int CanonicalDims => _projX is null ? 0 : (int)_projX.shape[1];

    public void Validate(DataStats stats)
    {
        if (stats.Samples < 2) throw new InvalidInputException(stats.Field, "CCA needs at least 2 samples");
        if (_o.CanonicalDims > stats.Dim)
            throw new InvalidInputException("canonical_dims", $"must be <= the activation width {stats.Dim}, got {_o.CanonicalDims}");
        if (Concepts > 2 * stats.Samples)
            throw new InvalidInputException("n_concepts", $"needs n_concepts <= 2 × samples ({2 * stats.Samples}) for the initialisation, got {Concepts}");
    }

    public void ValidatePaired(DataStats data, DataStats paired)
    {
        if (paired.Samples != data.Samples)
            throw new InvalidInputException(paired.Field, $"has {paired.Samples} samples; the activations have {data.Samples} (rows must pair one to one)");
        if (_o.CanonicalDims > paired.Dim)
            throw new InvalidInputException("canonical_dims", $"must be <= the paired width {paired.Dim}, got {_o.CanonicalDims}");
    }

    /// <summary>Both modalities in float64 with their SVD factors and centred copies, then the 2N stacked variates and codes in float32.</summary>
    public long WorkingBytes(long samples, int dim, int pairedDim) =>
        Core.Limits.RequestBudget.Product(samples, 8L * 4 * (dim + pairedDim) + 4L * 2 * 3 * (_o.CanonicalDims + Concepts));

    public void Fit(IRowSource data, FitContext ctx)
    {
        var paired = ctx.Paired ?? throw new InvalidInputException("config.paired_activations", $"method {Method} needs paired activations (rows of the second modality)");
        if (paired.Samples != data.Samples)
            throw new InvalidInputException("config.paired_activations", $"has {paired.Samples} samples; the activations have {data.Samples}");
        var z = FitAlignment(data, paired, ctx);
        // Outside the alignment's scope: the concept dictionary hands its atoms to the caller's scope, as every fit does.
        using (z) _codes.Fit(new TensorRowSource(z), ctx);
        ctx.Progress?.Invoke(2, 2, "phases", Method + "-concepts");
    }

    /// <summary>The CCA step: fits μ, A, B, P and returns the stacked canonical variates [Z_x; Z_y] (float32, 2N rows) of the training rows.</summary>
    Tensor FitAlignment(IRowSource data, IRowSource paired, FitContext ctx)
    {
        using var scope = NewDisposeScope();
        Tensor x, y;
        using (var raw = RowSources.All(data)) x = raw.to_type(ScalarType.Float64);
        using (var raw = RowSources.All(paired)) y = raw.to_type(ScalarType.Float64);
        ctx.CancellationToken.ThrowIfCancellationRequested();
        var mx = x.mean([0]);
        var my = y.mean([0]);
        var xc = x - mx;
        var yc = y - my;
        var (rho, a, b) = CanonicalCorrelation.Fit(xc, yc, _o.Ridge, _o.CanonicalDims, "config.activations", "config.paired_activations");
        var zx = xc.matmul(a);
        var zy = yc.matmul(b);
        var backX = Back(zx, xc);
        var backY = Back(zy, yc);
        ctx.Progress?.Invoke(1, 2, "phases", Method + "-cca");
        ctx.Metrics?.Invoke(0, new Dictionary<string, double>
        {
            ["canonical_correlation_first"] = rho[0].item<double>(),
            ["canonical_correlation_mean"] = rho.mean().item<double>(),
        });
        Replace(mx, my, a, b, backX, backY, rho);
        return cat([zx, zy], 0).to_type(ScalarType.Float32).DetachFromDisposeScope();
    }

    /// <summary>P = argmin ||Z P − X_c||² by the normal equations (ZᵀZ has full rank r; a 1e-10 relative ridge guards ties).</summary>
    static Tensor Back(Tensor z, Tensor xc)
    {
        var g = z.t().matmul(z);
        var eps = 1e-10 * Math.Max(g.trace().item<double>() / g.shape[0], 1e-300);
        return linalg.solve(g + eps * eye(g.shape[0], dtype: ScalarType.Float64), z.t().matmul(xc));
    }

    void Replace(Tensor mx, Tensor my, Tensor a, Tensor b, Tensor backX, Tensor backY, Tensor rho)
    {
        foreach (var t in new[] { _meanX, _meanY, _projX, _projY, _backX, _backY, _rho }) t?.Dispose();
        static Tensor F(Tensor t) => t.to_type(ScalarType.Float32).contiguous().clone().DetachFromDisposeScope();
        (_meanX, _meanY, _projX, _projY, _backX, _backY, _rho) = (F(mx), F(my), F(a), F(b), F(backX), F(backY), F(rho));
        InputDim = (int)_meanX.shape[0];
        PairedDim = (int)_meanY.shape[0];
    }

    Tensor EncodeSide(Tensor v, Tensor mean, Tensor proj)
    {
        using var s = NewDisposeScope();
        return _codes.Encode((v - mean).matmul(proj)).MoveToOuterDisposeScope();
    }

    Tensor DecodeSide(Tensor codes, Tensor mean, Tensor back)
    {
        using var s = NewDisposeScope();
        return (_codes.Decode(codes).matmul(back) + mean).MoveToOuterDisposeScope();
    }

    /// <summary>x [n, D₁] → its canonical variates [n, r] (the aligned embedding, before the concept decomposition).</summary>
    public Tensor Align(Tensor x) => (x - (_meanX ?? throw NotFitted())).matmul(_projX!);
    /// <summary>y [n, D₂] → its canonical variates [n, r].</summary>
    public Tensor AlignPaired(Tensor y) => (y - (_meanY ?? throw NotFitted())).matmul(_projY!);
    /// <summary>The concept vectors D [C, r] in the canonical space (shared by both modalities).</summary>
    public Tensor CanonicalAtoms() => _codes.Atoms();
    /// <summary>Codes [n, C] of canonical variates [n, r].</summary>
    public Tensor EncodeCanonical(Tensor z) => _codes.Encode(z);

    public Tensor Encode(Tensor x) => EncodeSide(x, _meanX ?? throw NotFitted(), _projX!);
    public Tensor Decode(Tensor codes) => DecodeSide(codes, _meanX ?? throw NotFitted(), _backX!);
    public Tensor Atoms() => _codes.Atoms().matmul(_backX ?? throw NotFitted());

    public IConceptDictionary PairedSide() => _paired ??= new PairedView(this);

    public Dictionary<string, Tensor> SaveState()
    {
        if (_meanX is null) throw NotFitted();
        return new()
        {
            ["concepts"] = _codes.Atoms(),
            ["mean_x"] = _meanX.clone(), ["mean_y"] = _meanY!.clone(),
            ["project_x"] = _projX!.clone(), ["project_y"] = _projY!.clone(),
            ["back_x"] = _backX!.clone(), ["back_y"] = _backY!.clone(),
            ["canonical_correlations"] = _rho!.clone(),
        };
    }

    public void LoadState(IReadOnlyDictionary<string, Tensor> state)
    {
        _codes.LoadState(new Dictionary<string, Tensor> { ["atoms"] = state["concepts"] });
        Replace(state["mean_x"], state["mean_y"], state["project_x"], state["project_y"], state["back_x"], state["back_y"], state["canonical_correlations"]);
    }

    static InvalidOperationException NotFitted() => new("the dictionary is not fitted");

    public void Dispose()
    {
        foreach (var t in new[] { _meanX, _meanY, _projX, _projY, _backX, _backY, _rho }) t?.Dispose();
        _codes.Dispose();
    }

    /// <summary>The concepts acting on the paired modality: Encode y → codes, Decode codes → ŷ, atoms D P_y [C, D₂].</summary>
    sealed class PairedView(ConceptCca owner) : IConceptDictionary
    {
        public string Method => owner.Method;
        public int Concepts => owner.Concepts;
        public int InputDim => owner.PairedDim;
        public bool NonNegativeCodes => owner.NonNegativeCodes;
        public void Validate(DataStats stats) => owner.Validate(stats);
        public void Fit(IRowSource data, FitContext context) => throw new InvalidOperationException("the paired side is fitted with its dictionary");
        public Tensor Encode(Tensor y) => owner.EncodeSide(y, owner._meanY ?? throw NotFitted(), owner._projY!);
        public Tensor Decode(Tensor codes) => owner.DecodeSide(codes, owner._meanY ?? throw NotFitted(), owner._backY!);
        public Tensor Atoms() => owner._codes.Atoms().matmul(owner._backY ?? throw NotFitted());
        public Dictionary<string, Tensor> SaveState() => owner.SaveState();
        public void LoadState(IReadOnlyDictionary<string, Tensor> state) => owner.LoadState(state);
        public void Dispose() { }
    }
}

/// <summary>Options of <see cref="ConceptCca"/> (CoCCA: sparsity 0; SCoCCA: sparsity &gt; 0).</summary>
public sealed record ConceptCcaOptions(int CanonicalDims, double Ridge, double Sparsity, bool Positive, int MaxIter, int CodeIters)
{
    static IReadOnlyList<OptionSpec> Shared =>
    [
        OptionSpec.Int("canonical_dims", 32, "r: canonical dimensions kept (the shared space the concepts live in); at most min(D, paired D)", 1, 4096),
        OptionSpec.Float("ridge", 0.1, "ε: each covariance is regularised to C + ε·tr(C)/D·I (relative to the mean variance), so rank-deficient or N < D sides stay well posed", 0, 1e6),
        OptionSpec.Int("max_iter", 20, "passes of the concept dictionary learning (each ends with an atom update)", 1, 10000),
        OptionSpec.Int("code_iters", 100, "FISTA iterations of the concept codes", 1, 100000),
    ];

    /// <summary>CoCCA: dense codes (λ = 0).</summary>
    public static readonly IReadOnlyList<OptionSpec> CoccaSchema = Shared;

    /// <summary>SCoCCA: sparse codes (λ &gt; 0), non-negative by default.</summary>
    public static readonly IReadOnlyList<OptionSpec> ScoccaSchema =
    [
        .. Shared,
        OptionSpec.Float("sparsity", 0.5, "λ > 0, the L1 weight of the concept codes (canonical variates have variance at most 1)", 1e-9, 1e9),
        OptionSpec.Bool("positive", true, "non-negative concept codes (a concept is present or absent)"),
    ];

    public static ConceptCcaOptions Cocca(OptionValues o) => new(o.Int("canonical_dims"), o.Float("ridge"), 0, false, o.Int("max_iter"), o.Int("code_iters"));

    public static ConceptCcaOptions Scocca(OptionValues o) =>
        new(o.Int("canonical_dims"), o.Float("ridge"), o.Float("sparsity"), o.Bool("positive"), o.Int("max_iter"), o.Int("code_iters"));
}
