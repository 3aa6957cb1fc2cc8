using System.Text.Json;
using System.Text.Json.Serialization;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Core.Concepts;

/// <summary>How raw concept pre-activations a = x̃ W_cᵀ + b_c become concept scores c.</summary>
public static class ConceptActivations
{
    /// <summary>c = a (plain linear concepts; also the identity layer of a linear probe).</summary>
    public const string Linear = "linear";
    /// <summary>c = σ(a): concept probabilities (CBM). Interventions must lie in [0, 1].</summary>
    public const string Sigmoid = "sigmoid";
    /// <summary>c_k = a_k / ‖W_c,k‖: signed distance to the k-th hyperplane (PCBM, CAV banks).</summary>
    public const string SignedDistance = "signed_distance";
    /// <summary>c = softmax(a) over concepts (Gumbel-softmax concept layer at inference).</summary>
    public const string Softmax = "softmax";

    public static readonly IReadOnlyList<string> All = [Linear, Sigmoid, SignedDistance, Softmax];
}

/// <summary>How the head input z [N, K] becomes logits [N, C].</summary>
public static class HeadKinds
{
    /// <summary>logits = z W_hᵀ + b_h (tensor "head_weight" [C, K]).</summary>
    public const string Linear = "linear";
    /// <summary>
    /// Grassmann class representation: class j is the subspace spanned by the orthonormal columns of
    /// S_j [K, r] (tensor "head_subspaces" [C, K, r]); logit_j = s·‖S_jᵀ z‖ + b_j with the scale s
    /// in the spec's head_scale.
    /// </summary>
    public const string Grassmann = "grassmann";
    /// <summary>
    /// Energy-based concept bottleneck (ECBM): concept, class and global energy networks (tensors
    /// "energy_*", settings in the spec's "energy"); concepts and class come from minimizing the
    /// total energy (<see cref="EnergyHead"/>), logit_y = −E(x, ĉ, y).
    /// </summary>
    public const string Energy = "energy";

    public static readonly IReadOnlyList<string> All = [Linear, Grassmann, Energy];

    /// <summary>Largest ‖S_jᵀS_j − I‖ (max entry) a stored Grassmann head may show.</summary>
    public const double OrthonormalityTolerance = 1e-3;

    /// <summary>Largest head scale s a stored Grassmann head may carry.</summary>
    public const double MaxScale = 1e4;
}

/// <summary>
/// What a bottleneck model is, besides its tensors: stored as the artifact's metadata JSON and
/// exported next to the safetensors file so that the model can be loaded anywhere.
/// </summary>
public sealed record ConceptModelSpec
{
    /// <summary>Format marker; readers reject other values.</summary>
    [JsonPropertyName("format")] public string Format { get; init; } = ConceptModel.FormatName;
    /// <summary>The registry name of the method that trained it ("cbm", "pcbm", "linear_probe", ...).</summary>
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "";
    /// <summary>D, the input (embedding) width.</summary>
    [JsonPropertyName("input_dim")] public int InputDim { get; init; }
    /// <summary>K names, one per concept, in column order.</summary>
    [JsonPropertyName("concept_names")] public List<string> ConceptNames { get; init; } = [];
    /// <summary>C names, one per class, in logit order.</summary>
    [JsonPropertyName("class_names")] public List<string> ClassNames { get; init; } = [];
    /// <summary>One of <see cref="ConceptActivations.All"/>.</summary>
    [JsonPropertyName("concept_activation")] public string ConceptActivation { get; init; } = ConceptActivations.Linear;
    /// <summary>False for a linear probe: the concepts are the (normalized) input features themselves.</summary>
    [JsonPropertyName("has_concept_layer")] public bool HasConceptLayer { get; init; } = true;
    /// <summary>True when the head ℓ2-normalizes the standardized concept vector per row (cosine heads).</summary>
    [JsonPropertyName("l2_normalize_concepts")] public bool L2NormalizeConcepts { get; init; }
    /// <summary>True for PCBM-h: logits add a residual linear map of the input.</summary>
    [JsonPropertyName("has_residual")] public bool HasResidual { get; init; }
    /// <summary>
    /// One of <see cref="HeadKinds.All"/>. Written only when it is not the linear default, so every
    /// linear model's metadata (and artifact id) is what it was before head kinds existed.
    /// </summary>
    [JsonIgnore] public string HeadKind { get => _headKind ?? HeadKinds.Linear; init => _headKind = value == HeadKinds.Linear ? null : value; }
    [JsonPropertyName("head_kind"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? HeadKindStored { get => _headKind; init => _headKind = value == HeadKinds.Linear ? null : value; }
    string? _headKind;
    /// <summary>The scale s of a Grassmann head (logit_j = s·‖S_jᵀ z‖ + b_j); absent for a linear head.</summary>
    [JsonPropertyName("head_scale"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? HeadScale { get; init; }
    /// <summary>The inference settings of an energy head (λ_c, λ_g, steps, step size); absent for other heads.</summary>
    [JsonPropertyName("energy"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public EnergyHeadSpec? Energy { get; init; }
    /// <summary>
    /// Concepts removed or down-weighted by global edits, with their factor. A linear head applies it
    /// to the concept's head column; a Grassmann head multiplies the concept's head input z_k by it.
    /// </summary>
    [JsonPropertyName("edits")] public Dictionary<string, double> Edits { get; init; } = new();
    /// <summary>Training options as given (for provenance).</summary>
    [JsonPropertyName("options")] public Dictionary<string, string> Options { get; init; } = new();
    /// <summary>Measured quality at training time (accuracy, concept accuracy, sparsity, ...).</summary>
    [JsonPropertyName("metrics")] public Dictionary<string, double> Metrics { get; init; } = new();

    /// <summary>True when concept scores are probabilities (interventions must be in [0, 1]).</summary>
    [JsonIgnore] public bool ConceptsAreProbabilities => ConceptActivation is ConceptActivations.Sigmoid or ConceptActivations.Softmax;

    public string ToJson() => JsonSerializer.Serialize(this);

    public static ConceptModelSpec FromJson(string json) =>
        JsonSerializer.Deserialize<ConceptModelSpec>(json) ?? throw new InvalidDataException("bottleneck spec is empty");
}

/// <summary>The three outputs of one forward pass.</summary>
public sealed record ConceptForward(Tensor Concepts, Tensor Logits, Tensor? ResidualLogits);

/// <summary>
/// The inference head of every bottleneck model (CBM, PCBM, PCBM-h, sparse probes, Sparse-CBM,
/// Concept Matrix Search, the linear probe): input x [N, D] → concept scores c [N, K] → logits [N, C].
/// <code>
///   x̃ = (x − μ_x) / σ_x                                 input normalization
///   a = x̃ W_cᵀ + b_c                                     concept layer (identity for a probe: a = x̃)
///   c = act(a)   act ∈ {linear, sigmoid, a_k/‖W_c,k‖, softmax}
///   z = (c − μ_c) / σ_c,   z ← z/‖z‖ when l2-normalized   head input
///   linear head:    logits = z W_hᵀ + b_h  (+ x̃ W_rᵀ + b_r for PCBM-h)   sparse/linear head (+ residual)
///                   contribution[n, j, k] = W_h[j, k] · z[n, k]
///   grassmann head: p_j = S_jᵀ z,  logit_j = s·‖p_j‖ + b_j    S_j [K, r] orthonormal columns
///                   contribution[n, j, k] = s · z[n, k] · (S_j p̂_j)[k],  p̂ = p/‖p‖
///   energy head (ECBM, no concept layer or head matrix; <see cref="EnergyHead"/>):
///                   ĉ = argmin over relaxed c of the total energy E(x, c, y) (a fixed number of gradient steps),
///                   logits = −E(x, ĉ, ·);  contribution[n, j, k] = logit_j(ĉ) − logit_j(ĉ with c_k = 0)
/// </code>
/// The Grassmann decomposition is exact: Σ_k z_k (S_j p̂)_k = zᵀS_j p̂ = p·p̂ = ‖p‖, so for both kinds
/// the contributions sum to the logit minus the bias (and the residual). Interventions replace
/// columns of c and recompute logits through the head (the residual term is unchanged). Global
/// edits: a linear head scales the concept's head column (0 removes it); a Grassmann head scales
/// the concept's head input z_k (0: the head sees z_k = 0), which is the same operation for a
/// linear head and keeps every S_j orthonormal. An energy head's contributions are ablations, not
/// additive; its interventions re-minimize the concepts they do not fix, and it takes no edits. Artifacts of kind "bottleneck"
/// hold the tensors named in <see cref="TensorNames"/> and the <see cref="ConceptModelSpec"/> as
/// metadata JSON. The explain stage loads the same artifacts with <see cref="Load"/>.
/// </summary>
public sealed class ConceptModel : IDisposable
{
    public const string FormatName = "conceptsuite.bottleneck.v1";
    public const string ArtifactKind = "bottleneck";

    /// <summary>Tensor names inside a bottleneck artifact (safetensors). Optional ones may be absent.</summary>
    public static class TensorNames
    {
        public const string InputMean = "input_mean";           // [D]
        public const string InputScale = "input_scale";         // [D]
        public const string ConceptWeight = "concept_weight";   // [K, D] (absent without a concept layer)
        public const string ConceptBias = "concept_bias";       // [K]    (absent without a concept layer)
        public const string ConceptMean = "concept_mean";       // [K]
        public const string ConceptScale = "concept_scale";     // [K]
        public const string HeadWeight = "head_weight";         // [C, K]
        public const string HeadBias = "head_bias";             // [C]
        public const string ResidualWeight = "residual_weight"; // [C, D] (PCBM-h only)
        public const string ResidualBias = "residual_bias";     // [C]    (PCBM-h only)
        public const string ConceptMargin = "concept_margin";   // [K]    (optional: PCBM CAV margins 1/‖w_k‖; not used by inference)
        public const string HeadSubspaces = "head_subspaces";   // [C, K, r] (grassmann head, instead of head_weight)
        // Energy head (instead of the concept layer and head): H hidden width, E embedding dim.
        public const string EnergyFeatureWeight = "energy_feature_weight";     // [H, D]  W_f
        public const string EnergyFeatureBias = "energy_feature_bias";         // [H]     b_f
        public const string EnergyConceptPositive = "energy_concept_positive"; // [K, E]  v_k⁺
        public const string EnergyConceptNegative = "energy_concept_negative"; // [K, E]  v_k⁻
        public const string EnergyLabelEmbedding = "energy_label_embedding";   // [C, E]  u_y
        public const string EnergyConceptW1 = "energy_concept_w1";             // [H, H + E]
        public const string EnergyConceptB1 = "energy_concept_b1";             // [H]
        public const string EnergyConceptW2 = "energy_concept_w2";             // [H]
        public const string EnergyClassW1 = "energy_class_w1";                 // [H, H + E]
        public const string EnergyClassB1 = "energy_class_b1";                 // [H]
        public const string EnergyClassW2 = "energy_class_w2";                 // [H]
        public const string EnergyGlobalW1 = "energy_global_w1";               // [H, K·E + E]
        public const string EnergyGlobalB1 = "energy_global_b1";               // [H]
        public const string EnergyGlobalW2 = "energy_global_w2";               // [H]
    }

    readonly Dictionary<string, Tensor> _t;

    /// <summary>Builds a model from its spec and tensors (validated; the model takes its own copies).</summary>
    public ConceptModel(ConceptModelSpec spec, IReadOnlyDictionary<string, Tensor> tensors)
    {
        Spec = spec;
        _t = new Dictionary<string, Tensor>();
        foreach (var (k, v) in tensors) _t[k] = v.detach().to(ScalarType.Float32).clone().DetachFromDisposeScope();
        _conceptIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < spec.ConceptNames.Count; i++) _conceptIndex[spec.ConceptNames[i]] = i;
        try { Validate(); }
        catch { Dispose(); throw; }
    }

    readonly Dictionary<string, int> _conceptIndex;
    // The Grassmann head's input gate [K] from the spec's edits (null: no edits, or a linear head).
    Tensor? _gate;

    public ConceptModelSpec Spec { get; }
    public int InputDim => Spec.InputDim;
    public int ConceptCount => Spec.ConceptNames.Count;
    public int ClassCount => Spec.ClassNames.Count;
    public IReadOnlyList<string> ConceptNames => Spec.ConceptNames;
    public IReadOnlyList<string> ClassNames => Spec.ClassNames;
    public bool HasResidual => Spec.HasResidual;
    public Device Device => _t[TensorNames.InputMean].device;
    /// <summary>True for a Grassmann head (<see cref="HeadKinds.Grassmann"/>).</summary>
    public bool IsGrassmann => Spec.HeadKind == HeadKinds.Grassmann;
    /// <summary>True for an energy head (<see cref="HeadKinds.Energy"/>): inference minimizes the total energy.</summary>
    public bool IsEnergy => Spec.HeadKind == HeadKinds.Energy;
    EnergyHeadSpec EnergySpec => Spec.Energy!;

    /// <summary>The model's tensors by <see cref="TensorNames"/> (owned by the model; do not dispose).</summary>
    public IReadOnlyDictionary<string, Tensor> Tensors => _t;

    /// <summary>W_h [C, K] of a linear head (a Grassmann head has none: see <see cref="HeadSubspaces"/>).</summary>
    public Tensor HeadWeight => IsGrassmann
        ? throw new InvalidOperationException("a grassmann head has no head_weight; its classes are the subspaces in head_subspaces")
        : _t[TensorNames.HeadWeight];
    public Tensor HeadBias => IsEnergy
        ? throw new InvalidOperationException("an energy head has no head_bias; its class scores are negative energies")
        : _t[TensorNames.HeadBias];
    /// <summary>S [C, K, r] of a Grassmann head (orthonormal columns per class).</summary>
    public Tensor HeadSubspaces => IsGrassmann
        ? _t[TensorNames.HeadSubspaces]
        : throw new InvalidOperationException("a linear head has no head_subspaces");
    /// <summary>The Grassmann head's scale s.</summary>
    public float HeadScale => (float)(Spec.HeadScale ?? 1);

    /// <summary>Loads a bottleneck artifact; INVALID_ARGUMENT naming <paramref name="field"/> when it is not one.</summary>
    public static ConceptModel Load(ArtifactReader reader, Device? device, string field)
    {
        if (reader.Info.Ref.Kind != ArtifactKind)
            throw new InvalidInputException(field, $"artifact {reader.Info.Ref.Id} is a '{reader.Info.Ref.Kind}', not a '{ArtifactKind}'");
        var spec = ConceptModelSpec.FromJson(reader.Info.MetadataJson);
        using var scope = NewDisposeScope();
        var tensors = reader.Entries.Keys.ToDictionary(n => n, n => reader.Read(n));
        var model = new ConceptModel(spec, tensors);
        if (device is not null) model.MoveTo(device);
        return model;
    }

    /// <summary>Opens and loads a stored model by id (NOT_FOUND when absent; errors name <paramref name="field"/>).</summary>
    public static ConceptModel Load(ArtifactStore store, string id, Device? device, string field)
    {
        using var reader = store.Open(id, field);
        return Load(reader, device, field);
    }

    /// <summary>Stores the model as a "bottleneck" artifact (content-derived id).</summary>
    public Task<ArtifactInfo> SaveAsync(ArtifactStore store, IReadOnlyDictionary<string, string>? labels = null, CancellationToken ct = default)
    {
        var l = new Dictionary<string, string> { ["stage"] = "bottleneck", ["model_type"] = Spec.ModelType };
        if (labels is not null) foreach (var (k, v) in labels) l[k] = v;
        return store.PutAsync(ArtifactKind, _t, Spec.ToJson(), l, ct);
    }

    /// <summary>Moves all tensors to a device (in place).</summary>
    public ConceptModel MoveTo(Device device)
    {
        foreach (var k in _t.Keys.ToList())
        {
            if (_t[k].device == device) continue;
            var moved = _t[k].to(device).DetachFromDisposeScope();
            _t[k].Dispose();
            _t[k] = moved;
        }
        if (_gate is not null && _gate.device != device)
        {
            var moved = _gate.to(device).DetachFromDisposeScope();
            _gate.Dispose();
            _gate = moved;
        }
        return this;
    }

    /// <summary>Column index of a concept; NOT_FOUND-free: unknown names are bad input naming <paramref name="field"/>.</summary>
    public int ConceptIndex(string name, string field = "concepts")
    {
        if (_conceptIndex.TryGetValue(name, out var i)) return i;
        var known = Spec.ConceptNames.Count <= 12 ? string.Join(", ", Spec.ConceptNames) : string.Join(", ", Spec.ConceptNames.Take(12)) + ", ...";
        throw new InvalidInputException(field, $"unknown concept '{name}'; this model has {ConceptCount}: {known}");
    }

    /// <summary>x̃ = (x − μ_x)/σ_x.</summary>
    public Tensor NormalizeInput(Tensor x)
    {
        CheckInput(x);
        return (x.to(ScalarType.Float32) - _t[TensorNames.InputMean]) / _t[TensorNames.InputScale];
    }

    /// <summary>Concept scores c [N, K] of inputs x [N, D].</summary>
    public Tensor Concepts(Tensor x)
    {
        using var scope = NewDisposeScope();
        var xn = NormalizeInput(x);
        if (IsEnergy) return EnergyHead.Minimize(_t, EnergySpec, xn, null, null).Concepts.MoveToOuterDisposeScope();
        if (!Spec.HasConceptLayer) return xn.MoveToOuterDisposeScope();
        var w = _t[TensorNames.ConceptWeight];
        var a = nn.functional.linear(xn, w, _t[TensorNames.ConceptBias]);
        var c = Spec.ConceptActivation switch
        {
            ConceptActivations.Sigmoid => a.sigmoid(),
            ConceptActivations.SignedDistance => a / w.norm(1).clamp_min(1e-12f),
            ConceptActivations.Softmax => a.softmax(1),
            _ => a,
        };
        return c.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// z, the head's input: standardized (and optionally ℓ2-normalized) concept scores; for a
    /// Grassmann head with global edits, each edited z_k multiplied by its factor (after the
    /// normalization, so the other coordinates are what the unedited head sees).
    /// </summary>
    public Tensor HeadInput(Tensor concepts)
    {
        CheckConcepts(concepts);
        if (IsEnergy) return concepts.to(ScalarType.Float32).clone();   // the energy networks read c itself
        using var scope = NewDisposeScope();
        var z = (concepts.to(ScalarType.Float32) - _t[TensorNames.ConceptMean]) / _t[TensorNames.ConceptScale];
        if (Spec.L2NormalizeConcepts) z = z / z.norm(1, keepdim: true).clamp_min(1e-12f);
        if (_gate is not null) z = z * _gate;
        return z.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The head itself, z [N, K] → logits [N, C] (no residual): z W_hᵀ + b_h, or s·‖S_jᵀ z‖ + b_j.
    /// Differentiable in z (the explain stage takes gradients through it).
    /// </summary>
    public Tensor HeadLogits(Tensor z)
    {
        using var scope = NewDisposeScope();
        var logits = IsEnergy ? EnergyHead.Logits(_t, EnergySpec, z, null)
            : IsGrassmann ? GrassmannLogits(HeadSubspaces, HeadScale, HeadBias, z)
            : nn.functional.linear(z, HeadWeight, HeadBias);
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>s·‖S_jᵀ z‖ + b_j for every class j: S [C, K, r], z [N, K] → [N, C] (also the training forward pass).</summary>
    public static Tensor GrassmannLogits(Tensor subspaces, float scale, Tensor? bias, Tensor z)
    {
        var norms = einsum("nk,ckr->ncr", z, subspaces).norm(2);
        var logits = norms * scale;
        return bias is null ? logits : logits + bias;
    }

    /// <summary>
    /// u_j = S_j p̂_j with p_j = S_jᵀ z, p̂ = p/‖p‖ (0 when p = 0), the gradient of ‖p_j‖ in z:
    /// for every class [N, C, K], or for class classes[n] of each row [N, K] (one class's
    /// subspace at a time, so nothing of size N·K·r is formed).
    /// </summary>
    Tensor GrassmannDirections(Tensor z, Tensor? classes)
    {
        using var scope = NewDisposeScope();
        var s = HeadSubspaces;
        var p = einsum("nk,ckr->ncr", z, s);
        var unit = p / p.norm(-1, keepdim: true).clamp_min(1e-12f);
        if (classes is null) return einsum("ckr,ncr->nck", s, unit).MoveToOuterDisposeScope();
        long r = s.shape[2];
        var picked = unit.gather(1, classes.view(-1, 1, 1).expand(-1, 1, r)).squeeze(1);   // [N, r]
        var u = zeros(z.shape[0], z.shape[1], device: z.device);
        foreach (var j in classes.unique().Item1.cpu().data<long>().ToArray())
        {
            var rows = classes.eq(j).nonzero().squeeze(1);
            u.index_copy_(0, rows, picked.index_select(0, rows).matmul(s[j].t()));
        }
        return u.MoveToOuterDisposeScope();
    }

    /// <summary>Classes × concepts the head reads, counted per class ([C], float): non-zero head entries of each class.</summary>
    public Tensor ConceptsPerClass()
    {
        using var scope = NewDisposeScope();
        if (IsEnergy) return full(ClassCount, (float)ConceptCount, device: Device).MoveToOuterDisposeScope();
        var used = IsGrassmann ? HeadSubspaces.abs().sum(2).ne(0) : HeadWeight.ne(0);
        if (_gate is not null) used = used.logical_and(_gate.ne(0).unsqueeze(0));
        return used.sum(1).to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>Residual logits x̃ W_rᵀ + b_r [N, C] (PCBM-h); zeros for models without a residual.</summary>
    public Tensor ResidualLogits(Tensor x)
    {
        using var scope = NewDisposeScope();
        var xn = NormalizeInput(x);
        var r = HasResidual
            ? nn.functional.linear(xn, _t[TensorNames.ResidualWeight], _t[TensorNames.ResidualBias])
            : zeros(xn.shape[0], ClassCount, device: xn.device);
        return r.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Logits [N, C] from concept scores. A PCBM-h model needs the input too (for its residual);
    /// without it only the concept part z W_hᵀ + b_h is returned. An energy head gives −E(x, c, ·)
    /// with the input, and −λ_g E_global(c, ·) (the part depending on both c and y) without it.
    /// </summary>
    public Tensor Logits(Tensor concepts, Tensor? x = null)
    {
        using var scope = NewDisposeScope();
        if (IsEnergy)
        {
            CheckConcepts(concepts);
            if (x is not null && x.shape[0] != concepts.shape[0]) throw new InvalidInputException("inputs", $"{x.shape[0]} inputs for {concepts.shape[0]} concept rows");
            return EnergyHead.Logits(_t, EnergySpec, concepts.to(ScalarType.Float32), x is null ? null : NormalizeInput(x)).MoveToOuterDisposeScope();
        }
        var logits = HeadLogits(HeadInput(concepts));
        if (HasResidual && x is not null)
        {
            if (x.shape[0] != concepts.shape[0]) throw new InvalidInputException("inputs", $"{x.shape[0]} inputs for {concepts.shape[0]} concept rows");
            logits = logits + ResidualLogits(x);
        }
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>Concepts, logits (with the residual when present) and the residual logits of x.</summary>
    public ConceptForward Forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        if (IsEnergy)
        {
            var (ce, le) = EnergyHead.Minimize(_t, EnergySpec, NormalizeInput(x), null, null);
            return new ConceptForward(ce.MoveToOuterDisposeScope(), le.MoveToOuterDisposeScope(), null);
        }
        var c = Concepts(x);
        var conceptLogits = Logits(c);
        Tensor? r = HasResidual ? ResidualLogits(x) : null;
        var logits = r is null ? conceptLogits : conceptLogits + r;
        return new ConceptForward(c.MoveToOuterDisposeScope(), logits.MoveToOuterDisposeScope(), r?.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Replaces concept columns <paramref name="conceptIndices"/> of c(x) with <paramref name="values"/>
    /// ([N, m], or [m] for every row) and returns the concepts used and the new logits
    /// (residual unchanged). Probability concepts require values in [0, 1].
    /// </summary>
    public (Tensor Concepts, Tensor Logits) Intervene(Tensor x, IReadOnlyList<int> conceptIndices, Tensor values, string field = "values")
    {
        using var scope = NewDisposeScope();
        if (IsEnergy)
        {
            CheckInput(x);
            var given = ValidateInterventionValues(conceptIndices, values, x.shape[0], field).to(Device);
            var held = zeros(x.shape[0], ConceptCount, dtype: ScalarType.Bool, device: Device);
            var heldValues = zeros(x.shape[0], ConceptCount, device: Device);
            if (conceptIndices.Count > 0)
            {
                var at = tensor(conceptIndices.Select(i => (long)i).ToArray(), device: Device);
                held.index_fill_(1, at, true);
                heldValues.index_copy_(1, at, given.contiguous());
            }
            var (ce, le) = InterveneWhere(x, held, heldValues, field);
            return (ce.MoveToOuterDisposeScope(), le.MoveToOuterDisposeScope());
        }
        var c = Concepts(x).clone();
        var v = ValidateInterventionValues(conceptIndices, values, x.shape[0], field).to(c.device);
        if (conceptIndices.Count > 0)
        {
            var idx = tensor(conceptIndices.Select(i => (long)i).ToArray(), device: c.device);
            c.index_copy_(1, idx, v);
        }
        var logits = Logits(c, x);
        return (c.MoveToOuterDisposeScope(), logits.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// An energy head's concept probabilities per class [C, K] under its global energy's Boltzmann
    /// distribution (mean-field, <see cref="EnergyHead.Conditionals"/>): p(c_k = 1 | y), or with
    /// <paramref name="given"/> = j, p(c_k = 1 | c_j = 1, y).
    /// </summary>
    public Tensor ConceptConditionals(int? given = null)
    {
        if (!IsEnergy) throw new InvalidOperationException("conditional concept probabilities need an energy head");
        if (given is int j && (j < 0 || j >= ConceptCount)) throw new InvalidInputException("concepts", $"concept index {j} outside [0, {ConceptCount})");
        return EnergyHead.Conditionals(_t, given);
    }

    /// <summary>
    /// Row-wise interventions: concept (n, k) is held at values[n, k] where held[n, k] is true ([N, K]
    /// each, so every row may fix a different set). Linear and Grassmann heads replace those entries of
    /// c(x) and recompute the logits; an energy head holds them and re-minimizes the total energy over
    /// the others, so concepts correlated with the held ones move too.
    /// </summary>
    public (Tensor Concepts, Tensor Logits) InterveneWhere(Tensor x, Tensor held, Tensor values, string field = "values")
    {
        using var scope = NewDisposeScope();
        CheckInput(x);
        long n = x.shape[0];
        if (held.dtype != ScalarType.Bool || !held.shape.SequenceEqual(new[] { n, (long)ConceptCount }))
            throw new InvalidInputException("held", $"must be bool [{n}, {ConceptCount}]");
        if (!values.shape.SequenceEqual(new[] { n, (long)ConceptCount })) throw new InvalidInputException(field, $"must be [{n}, {ConceptCount}]");
        var h = held.to(Device);
        var v = where(h, values.to(ScalarType.Float32).to(Device), zeros(n, ConceptCount, device: Device));
        if (v.numel() > 0)
        {
            if (!v.isfinite().all().item<bool>()) throw new InvalidInputException(field, "must be finite");
            if (Spec.ConceptsAreProbabilities && (v.min().item<float>() < 0f || v.max().item<float>() > 1f))
                throw new InvalidInputException(field, $"concepts of a '{Spec.ConceptActivation}' model are probabilities: values must be in [0, 1]");
        }
        if (IsEnergy)
        {
            var (ce, le) = EnergyHead.Minimize(_t, EnergySpec, NormalizeInput(x), h, v);
            return (ce.MoveToOuterDisposeScope(), le.MoveToOuterDisposeScope());
        }
        var c = where(h, v, Concepts(x));
        return (c.MoveToOuterDisposeScope(), Logits(c, x).MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Per-concept contributions to the logit of class j = classes[n] ([N, K]): W_h[j, k] · z[n, k],
    /// or s · z[n, k] · (S_j p̂)[k] for a Grassmann head. The logit equals their sum plus b_h[j]
    /// plus the residual logit. An energy head needs the inputs <paramref name="x"/> and gives
    /// ablations, logit_j(c) − logit_j(c with c_k = 0) (<see cref="EnergyHead.Ablations"/>), which do not sum to the logit.
    /// </summary>
    public Tensor Contributions(Tensor concepts, Tensor classes, Tensor? x = null)
    {
        using var scope = NewDisposeScope();
        var z = HeadInput(concepts);
        var cls = classes.to(ScalarType.Int64).to(z.device);
        if (cls.dim() != 1 || cls.shape[0] != z.shape[0]) throw new InvalidInputException("classes", $"expected [{z.shape[0]}] class indices");
        if (cls.numel() > 0 && (cls.min().item<long>() < 0 || cls.max().item<long>() >= ClassCount))
            throw new InvalidInputException("classes", $"class indices must be in [0, {ClassCount})");
        if (IsEnergy)
            return ContributionsAll(concepts, x).gather(1, cls.view(-1, 1, 1).expand(-1, 1, ConceptCount)).squeeze(1).MoveToOuterDisposeScope();
        var w = IsGrassmann
            ? GrassmannDirections(z, cls) * HeadScale
            : HeadWeight.index_select(0, cls);          // [N, K]
        return (w * z).MoveToOuterDisposeScope();
    }

    /// <summary>Contributions to every class: [N, C, K].</summary>
    public Tensor ContributionsAll(Tensor concepts, Tensor? x = null)
    {
        using var scope = NewDisposeScope();
        if (IsEnergy)
        {
            CheckConcepts(concepts);
            if (x is null) throw new InvalidOperationException("an energy head's contributions need the inputs (its class energy depends on x)");
            return EnergyHead.Ablations(_t, EnergySpec, concepts.to(ScalarType.Float32), NormalizeInput(x)).MoveToOuterDisposeScope();
        }
        var z = HeadInput(concepts);
        var w = IsGrassmann ? GrassmannDirections(z, null) * HeadScale : HeadWeight.unsqueeze(0);
        return (z.unsqueeze(1) * w).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// A globally edited copy: each named concept's share of the head multiplied by its factor
    /// (0 removes the concept for every input, 0 &lt; f &lt; 1 down-weights it). A linear head
    /// scales the concept's head column; a Grassmann head scales the concept's head input z_k
    /// (the factor is kept in the spec's edits and applied by <see cref="HeadInput"/>): with
    /// factor 0 the head sees z_k = 0, exactly as a zeroed linear column does, and the stored
    /// subspaces stay orthonormal (zeroing row k of S_j and re-orthonormalizing would change what
    /// the other concepts contribute). Factors compose with earlier edits in the spec.
    /// </summary>
    public ConceptModel Edit(IReadOnlyDictionary<int, double> factors)
    {
        if (IsEnergy) throw new InvalidInputException("edits", "an energy head has no per-concept head weights to scale; intervene on the concept instead");
        using var scope = NewDisposeScope();
        var w = IsGrassmann ? null : HeadWeight.clone();
        var edits = new Dictionary<string, double>(Spec.Edits);
        foreach (var (k, f) in factors)
        {
            if (k < 0 || k >= ConceptCount) throw new InvalidInputException("edits", $"concept index {k} outside [0, {ConceptCount})");
            if (!double.IsFinite(f) || f < 0) throw new InvalidInputException("edits", $"factor {f} for '{ConceptNames[k]}' must be finite and >= 0");
            w?.select(1, k).mul_((float)f);
            var name = ConceptNames[k];
            edits[name] = edits.TryGetValue(name, out var prev) ? prev * f : f;
        }
        var tensors = new Dictionary<string, Tensor>(_t);
        if (w is not null) tensors[TensorNames.HeadWeight] = w;
        return new ConceptModel(Spec with { Edits = edits }, tensors);
    }

    /// <summary>Checks intervention values: shape [N, m] or [m], finite, and in [0, 1] for probability concepts.</summary>
    public Tensor ValidateInterventionValues(IReadOnlyList<int> conceptIndices, Tensor values, long rows, string field = "values")
    {
        foreach (var i in conceptIndices)
            if (i < 0 || i >= ConceptCount) throw new InvalidInputException("concepts", $"concept index {i} outside [0, {ConceptCount})");
        if (conceptIndices.Distinct().Count() != conceptIndices.Count) throw new InvalidInputException("concepts", "names a concept twice");
        int m = conceptIndices.Count;
        var v = values.to(ScalarType.Float32);
        if (v.dim() == 1 && v.shape[0] == m) v = v.unsqueeze(0).expand(rows, m);
        else if (!(v.dim() == 2 && v.shape[0] == rows && v.shape[1] == m))
            throw new InvalidInputException(field, $"shape [{string.Join(", ", values.shape)}] must be [{rows}, {m}] or [{m}] (one value per named concept)");
        if (v.numel() > 0)
        {
            if (!v.isfinite().all().item<bool>()) throw new InvalidInputException(field, "must be finite");
            if (Spec.ConceptsAreProbabilities && (v.min().item<float>() < 0f || v.max().item<float>() > 1f))
                throw new InvalidInputException(field, $"concepts of a '{Spec.ConceptActivation}' model are probabilities: values must be in [0, 1]");
        }
        return v;
    }

    void CheckInput(Tensor x)
    {
        if (x.dim() != 2 || x.shape[1] != InputDim)
            throw new InvalidInputException("inputs", $"shape [{string.Join(", ", x.shape)}] must be [N, {InputDim}]");
    }

    void CheckConcepts(Tensor c)
    {
        if (c.dim() != 2 || c.shape[1] != ConceptCount)
            throw new InvalidInputException("concepts", $"shape [{string.Join(", ", c.shape)}] must be [N, {ConceptCount}]");
    }

    void Validate()
    {
        if (Spec.Format != FormatName) throw new InvalidDataException($"bottleneck format '{Spec.Format}' is not '{FormatName}'");
        if (!ConceptActivations.All.Contains(Spec.ConceptActivation)) throw new InvalidDataException($"concept activation '{Spec.ConceptActivation}' is unknown");
        long d = Spec.InputDim, k = Spec.ConceptNames.Count, c = Spec.ClassNames.Count;
        if (d <= 0 || k <= 0 || c <= 0) throw new InvalidDataException("bottleneck spec needs input_dim, concept_names and class_names");
        if (Spec.ConceptNames.Distinct(StringComparer.Ordinal).Count() != k) throw new InvalidDataException("concept names must be unique");
        if (!Spec.HasConceptLayer && k != d) throw new InvalidDataException("a model without a concept layer has one concept per input feature");
        void Shape(string name, params long[] shape)
        {
            if (!_t.TryGetValue(name, out var t)) throw new InvalidDataException($"bottleneck tensor '{name}' is missing");
            if (!t.shape.SequenceEqual(shape)) throw new InvalidDataException($"bottleneck tensor '{name}' is [{string.Join(", ", t.shape)}], expected [{string.Join(", ", shape)}]");
        }
        Shape(TensorNames.InputMean, d); Shape(TensorNames.InputScale, d);
        if (Spec.HeadKind == HeadKinds.Energy)
        {
            if (Spec.ConceptActivation != ConceptActivations.Sigmoid || !Spec.HasConceptLayer || Spec.HasResidual || Spec.L2NormalizeConcepts)
                throw new InvalidDataException("an energy head has sigmoid concepts from its own minimization: no residual, no l2 normalization");
            EnergyHead.Validate(_t, Spec, d, k, c);
            return;
        }
        if (Spec.Energy is not null) throw new InvalidDataException($"a '{Spec.HeadKind}' head has no energy settings");
        if (Spec.HasConceptLayer) { Shape(TensorNames.ConceptWeight, k, d); Shape(TensorNames.ConceptBias, k); }
        Shape(TensorNames.ConceptMean, k); Shape(TensorNames.ConceptScale, k);
        Shape(TensorNames.HeadBias, c);
        if (Spec.HasResidual) { Shape(TensorNames.ResidualWeight, c, d); Shape(TensorNames.ResidualBias, c); }
        switch (Spec.HeadKind)
        {
            case HeadKinds.Linear:
                Shape(TensorNames.HeadWeight, c, k);
                if (_t.ContainsKey(TensorNames.HeadSubspaces)) throw new InvalidDataException($"a linear head has no '{TensorNames.HeadSubspaces}'");
                if (Spec.HeadScale is not null) throw new InvalidDataException("a linear head has no head_scale");
                break;
            case HeadKinds.Grassmann:
                ValidateGrassmann(c, k);
                break;
            default:
                throw new InvalidDataException($"head kind '{Spec.HeadKind}' is unknown; expected one of {string.Join(", ", HeadKinds.All)}");
        }
    }

    /// <summary>S [C, K, r] with 1 ≤ r ≤ K, finite and orthonormal per class; a finite scale in (0, MaxScale]; edits naming known concepts.</summary>
    void ValidateGrassmann(long c, long k)
    {
        if (_t.ContainsKey(TensorNames.HeadWeight)) throw new InvalidDataException($"a grassmann head has no '{TensorNames.HeadWeight}'");
        if (Spec.HeadScale is not { } scale || !double.IsFinite(scale) || scale <= 0 || scale > HeadKinds.MaxScale)
            throw new InvalidDataException($"a grassmann head needs a head_scale in (0, {HeadKinds.MaxScale}], got {Spec.HeadScale?.ToString() ?? "none"}");
        if (!_t.TryGetValue(TensorNames.HeadSubspaces, out var s)) throw new InvalidDataException($"bottleneck tensor '{TensorNames.HeadSubspaces}' is missing");
        if (s.dim() != 3 || s.shape[0] != c || s.shape[1] != k || s.shape[2] < 1 || s.shape[2] > k)
            throw new InvalidDataException($"bottleneck tensor '{TensorNames.HeadSubspaces}' is [{string.Join(", ", s.shape)}], expected [{c}, {k}, r] with 1 <= r <= {k}");
        using (var scope = NewDisposeScope())
        using (inference_mode())
        {
            if (!s.isfinite().all().item<bool>()) throw new InvalidDataException($"bottleneck tensor '{TensorNames.HeadSubspaces}' has non-finite values");
            double err = OrthonormalityError(s);
            if (!(err <= HeadKinds.OrthonormalityTolerance))
                throw new InvalidDataException($"bottleneck tensor '{TensorNames.HeadSubspaces}' is not orthonormal per class: max |SᵀS − I| = {err:G3} > {HeadKinds.OrthonormalityTolerance}");
        }
        if (Spec.Edits.Count == 0) return;
        var gate = new float[k];
        Array.Fill(gate, 1f);
        foreach (var (name, f) in Spec.Edits)
        {
            if (!_conceptIndex.TryGetValue(name, out var i)) throw new InvalidDataException($"edit names unknown concept '{name}'");
            if (!double.IsFinite(f) || f < 0) throw new InvalidDataException($"edit factor {f} for '{name}' must be finite and >= 0");
            gate[i] = (float)f;
        }
        _gate = tensor(gate, device: s.device).DetachFromDisposeScope();
    }

    /// <summary>max over classes and entries of |S_jᵀS_j − I| for S [C, K, r].</summary>
    public static double OrthonormalityError(Tensor subspaces)
    {
        using var scope = NewDisposeScope();
        var s = subspaces.to(ScalarType.Float64);
        var gram = s.transpose(1, 2).matmul(s);
        return (gram - eye(s.shape[2], dtype: ScalarType.Float64, device: s.device)).abs().max().item<double>();
    }

    public void Dispose()
    {
        foreach (var t in _t.Values) t.Dispose();
        _t.Clear();
        _gate?.Dispose();
        _gate = null;
    }
}
