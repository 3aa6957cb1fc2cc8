using ConceptSuite.Bottleneck.Fitting;
using ConceptSuite.Core.Concepts;
using ConceptSuite.Core.Methods;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;
using N = ConceptSuite.Core.Concepts.ConceptModel.TensorNames;

namespace ConceptSuite.Bottleneck.Methods;

/// <summary>
/// Hybrid post-hoc CBM, PCBM-h (Yuksekgonul et al. 2023): the PCBM is fitted first and frozen;
/// then a residual linear layer on the embedding is fitted on top of its logits,
///   logits_h(x) = logits_PCBM(x) + r(x),  r(x) = x W_rᵀ + b_r,
///   min_{W_r, b_r} (1/N) Σ CE(logits_PCBM(x) + r(x), y) + (λ_r/2)‖W_r‖²,
/// recovering the accuracy the concept bank misses. The residual is fitted on standardized x
/// and folded back (W_r ← W_r/σ, b_r ← b_r − W_r·μ/σ) so that it acts on the raw embedding.
/// Interventions and edits act on the concept part only.
/// </summary>
public sealed class PosthocCbmHybrid(PosthocCbmHybridOptions options) : IBottleneckMethod
{
    public const string TypeName = "pcbm_h";

    public string Name => TypeName;

    public BottleneckFit Fit(BottleneckData d, FitProgress progress, CancellationToken ct)
    {
        using var scope = NewDisposeScope();
        double rl = options.ResidualLambda;
        int iterations = options.Pcbm.Iterations;
        var pcbm = PosthocCbm.FitPcbm(TypeName, d, options.Pcbm, progress, ct);
        using var concept = pcbm.Model;
        Tensor offset;
        using (no_grad()) offset = concept.Forward(d.Features).Logits;
        var (mean, std) = LinearFits.Standardizer(d.Features);
        var xn = (d.Features - mean) / std;
        progress("residual", 0, iterations);
        var r = LinearFits.Softmax(xn, d.Labels, d.Classes, rl, 0, iterations, offset, ct: ct);
        progress("residual", iterations, iterations);
        var wr = r.Weight / std;
        var br = r.Bias - wr.matmul(mean);
        var tensors = new Dictionary<string, Tensor>(concept.Tensors) { [N.ResidualWeight] = wr, [N.ResidualBias] = br };
        // The stored options are the ones given (bank as requested, "auto" included), as PCBM-h always recorded them.
        var model = new ConceptModel(concept.Spec with { HasResidual = true, Options = new() }, tensors);
        var metrics = new Dictionary<string, double>(pcbm.Metrics);
        metrics["pcbm_train_accuracy"] = pcbm.Metrics["train_accuracy"];
        ModelParts.TrainMetrics(model, d, metrics);
        return new BottleneckFit(model, metrics);
    }
}

/// <summary>Options of <see cref="PosthocCbmHybrid"/>: PCBM's, then the residual layer's penalty.</summary>
public sealed record PosthocCbmHybridOptions(PosthocCbmOptions Pcbm, double ResidualLambda)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        .. PosthocCbmOptions.Schema,
        OptionSpec.Float("residual_lambda", 1e-4, "ℓ2 penalty λ_r of the residual layer", 0),
    ];

    public static PosthocCbmHybridOptions From(OptionValues o) => new(PosthocCbmOptions.From(o), o.Float("residual_lambda"));
}
