using ConceptSuite.Bottleneck.Fitting;
using ConceptSuite.Core.Concepts;
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
public sealed class PosthocCbmHybrid : IBottleneckMethod
{
    public string Name => "pcbm_h";
    public string Description => "PCBM-h: PCBM plus a residual linear layer r(x) = xW_rᵀ + b_r fitted after the sparse head (CE on PCBM logits + r(x), ℓ2 λ_r).";
    public string Paper => "Yuksekgonul, Wang & Zou 2023, Post-hoc Concept Bottleneck Models (ICLR)";
    public bool RequiresConceptLabels => false;
    public bool RequiresConceptBank => false;
    public IReadOnlyList<OptionSpec> Options { get; } =
        [.. PosthocCbm.SharedOptions, new OptionSpec("residual_lambda", "0.0001", "ℓ2 penalty λ_r of the residual layer")];

    public BottleneckFit Fit(BottleneckData d, MethodOptions o, FitProgress progress, CancellationToken ct)
    {
        using var scope = NewDisposeScope();
        double rl = o.Double("residual_lambda", 0);
        int iterations = o.Int("iterations", 1, 100_000);
        var pcbm = PosthocCbm.FitPcbm(Name, d, o, progress, ct);
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
        var model = new ConceptModel(concept.Spec with { HasResidual = true, Options = o.Resolved() }, tensors);
        var metrics = new Dictionary<string, double>(pcbm.Metrics);
        metrics["pcbm_train_accuracy"] = pcbm.Metrics["train_accuracy"];
        ModelParts.TrainMetrics(model, d, metrics);
        return new BottleneckFit(model, metrics);
    }
}
