using ConceptSuite.Contracts;
using ConceptSuite.Core.Methods;
using ConceptSuite.Discovery.Abstractions;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Discovery.Methods;

/// <summary>
/// Relaxed archetypal SAE (RA-SAE; Fel et al. 2025, "Archetypal SAE: Adaptive and Stable
/// Dictionary Learning for Concept Extraction in Large Vision Models"): each atom is a convex
/// combination of data points plus a bounded relaxation, W_dec,i = (S_i · C + Λ_i) / ||·||, with
/// C [m, D] candidate points (a sample of the normalised data), S = softmax(logits) row-stochastic,
/// and ||Λ_i|| ≤ δ (projected after each step). The encoder is TopK. Keeping atoms near the data's
/// convex hull is what makes them stable across seeds.
/// </summary>
public sealed class ArchetypalSae(int concepts, ArchetypalSaeOptions options) : SparseAutoencoder(concepts, options.Common)
{
    readonly ArchetypalSaeOptions _v = options;

    Tensor? _candidates;
    Parameter? _logits, _relax;
    Tensor? _loadedDecoder;

    public override string Method => "archetypal_sae";

    public override void Validate(DataStats stats)
    {
        if (stats.Samples < 1) throw new InvalidInputException(stats.Field, "needs samples to draw archetype candidates from");
    }

    protected override void InitExtra(Tensor normalizedSample, Generator g)
    {
        long m = Math.Min(_v.Candidates, normalizedSample.shape[0]);
        using var perm = randperm(normalizedSample.shape[0], generator: g);
        using var idx = perm.narrow(0, 0, m);
        _candidates = normalizedSample.index_select(0, idx).contiguous();
        _logits = new Parameter(randn([Concepts, m], generator: g).mul_(0.01f));
        _relax = new Parameter(zeros(Concepts, _candidates.shape[1]));
        // The decoder is derived; the base W_dec parameter is kept equal to it for AuxK and saving.
        using (no_grad()) WDec!.copy_(DecoderWeights());
    }

    protected override IEnumerable<Parameter> TrainedParameters() => [WEnc!, BEnc!, BDec!, _logits!, _relax!];

    protected override Tensor DecoderWeights()
    {
        if (_loadedDecoder is not null) return _loadedDecoder;
        var w = _logits!.softmax(1).matmul(_candidates!) + _relax!;
        return w / w.square().sum(1, keepdim: true).sqrt().clamp_min(1e-12f);
    }

    protected override Tensor Activate(Tensor pre, bool training) => TopKSae.Select(pre, _v.K);

    protected override void BeforeStep() { }

    protected override void AfterStep()
    {
        using var _ = no_grad();
        // Project Λ_i onto the ball ||Λ_i|| ≤ δ.
        double delta = _v.Relax;
        var norms = _relax!.square().sum(1, keepdim: true).sqrt();
        _relax.mul_((delta / norms.clamp_min(1e-12f)).clamp_max(1));
        WDec!.copy_(DecoderWeights());
    }

    /// <summary>The mixing weights S [C, m] (rows sum to 1).</summary>
    public Tensor Mixing() { using var _ = no_grad(); return _logits!.softmax(1).detach().clone(); }

    /// <summary>Largest ||Λ_i|| (≤ δ after every step).</summary>
    public double MaxRelaxationNorm() { using var _ = no_grad(); return _relax!.square().sum(1).sqrt().max().item<float>(); }

    protected override Dictionary<string, Tensor> ExtraState()
    {
        using var _ = no_grad();
        if (_logits is null) return new();
        return new()
        {
            ["archetypes"] = (_candidates! * Scale + Mu!).clone(),
            ["mixing"] = _logits.softmax(1).detach().clone(),
            ["relaxation"] = (_relax! * Scale).detach().clone(),
        };
    }

    protected override void LoadExtraState(IReadOnlyDictionary<string, Tensor> state)
    {
        _loadedDecoder?.Dispose();
        _loadedDecoder = state["W_dec"].to_type(ScalarType.Float32).clone();
    }

    protected override Dictionary<string, Tensor> TrainingExtra()
    {
        using var _ = no_grad();
        return new() { ["candidates"] = _candidates!.clone(), ["logits"] = _logits!.detach().clone(), ["relax"] = _relax!.detach().clone() };
    }

    protected override void RestoreTrainingExtra(IReadOnlyDictionary<string, Tensor> s)
    {
        using var _ = no_grad();
        _candidates!.copy_(s["candidates"]); _logits!.copy_(s["logits"]); _relax!.copy_(s["relax"]);
    }

    public override void Dispose()
    {
        _candidates?.Dispose(); _logits?.Dispose(); _relax?.Dispose(); _loadedDecoder?.Dispose();
        base.Dispose();
    }
}

/// <summary>Options of <see cref="ArchetypalSae"/>: its own, then every sparse autoencoder's.</summary>
public sealed record ArchetypalSaeOptions(int K, int Candidates, double Relax, SparseAutoencoderOptions Common)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Int("k", 32, "active latents per sample", 1, null, maxOf: DictionaryMethods.NConcepts),
        OptionSpec.Int("candidates", 1024, "m, the data points atoms are mixed from", 1, 1 << 20),
        OptionSpec.Float("relax", 0.1, "δ, the bound on the relaxation norm ||Λ_i|| (normalised units)", 0, 1e6),
        .. SparseAutoencoderOptions.Schema,
    ];

    public static ArchetypalSaeOptions From(OptionValues o) => new(o.Int("k"), o.Int("candidates"), o.Float("relax"), SparseAutoencoderOptions.From(o));
}
