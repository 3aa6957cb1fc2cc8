using ConceptSuite.Bottleneck.Fitting;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Concepts;
using ConceptSuite.Core.Methods;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;
using N = ConceptSuite.Core.Concepts.ConceptModel.TensorNames;

namespace ConceptSuite.Bottleneck.Methods;

/// <summary>
/// Post-hoc concept bottleneck model (Yuksekgonul, Wang &amp; Zou, ICLR 2023). A concept bank of
/// hyperplanes (w_k, b_k) in the embedding space gives concept scores as signed distances
///   c_k(x) = (w_k·x + b_k) / ‖w_k‖,
/// then a sparse linear head on the standardized scores, fitted by elastic-net CE:
///   min (1/N) Σ CE(z Wᵀ + b, y) + λ(α‖W‖₁ + (1−α)/2‖W‖²),  z = (c − μ_c)/σ_c.
/// Banks: "cav" trains one concept activation vector per concept, an ℓ2-regularized logistic
/// classifier of positive (label ≥ 0.5) vs negative rows, storing its margin 1/‖w_k‖ (the
/// distance from the hyperplane to the level sets w·x + b = ±1) as "concept_margin";
/// "vectors" takes given directions (dictionary atoms or text embeddings of concept names) with
/// b = 0, so c_k is the projection on the unit direction.
/// </summary>
public sealed class PosthocCbm(PosthocCbmOptions options) : IBottleneckMethod
{
    public const string TypeName = "pcbm";

    public string Name => TypeName;

    public BottleneckFit Fit(BottleneckData d, FitProgress progress, CancellationToken ct) =>
        FitPcbm(TypeName, d, options, progress, ct);

    /// <summary>Fits PCBM (shared with PCBM-h, which adds its residual to this).</summary>
    internal static BottleneckFit FitPcbm(string name, BottleneckData d, PosthocCbmOptions o, FitProgress progress, CancellationToken ct)
    {
        using var scope = NewDisposeScope();
        var bank = o.Bank;
        if (bank == "auto") bank = d.ConceptBank is not null ? "vectors" : "cav";
        double cavL2 = o.CavL2, lambda = o.Lambda, alpha = o.Alpha;
        int iterations = o.Iterations;
        var metrics = new Dictionary<string, double>();
        Tensor w, b;
        if (bank == "cav")
        {
            var truth = ModelParts.RequireConceptLabels(d, name)!;
            var positive = truth.ge(0.5f).to(ScalarType.Float32);
            var counts = positive.sum([0]).cpu().data<float>().ToArray();
            long rows = truth.shape[0];
            for (int k = 0; k < counts.Length; k++)
                if (counts[k] == 0 || counts[k] == rows)
                    throw new InvalidInputException("concept_labels", $"concept '{d.ConceptNames[k]}' has no {(counts[k] == 0 ? "positive" : "negative")} rows; a CAV needs both");
            progress("cav", 0, 1);
            var cav = LinearFits.Logistic(d.Features, positive, cavL2, iterations, ct: ct);
            progress("cav", 1, 1);
            w = cav.Weight; b = cav.Bias;
            using (inference_mode())
            {
                var acc = nn.functional.linear(d.Features, w, b).ge(0).to(ScalarType.Float32).eq(positive).to(ScalarType.Float32).mean([0]);
                metrics["cav_accuracy_mean"] = acc.mean().item<float>();
                metrics["cav_accuracy_min"] = acc.min().item<float>();
            }
        }
        else
        {
            w = ModelParts.RequireConceptBank(d, name).clone();
            if (w.norm(1).min().item<float>() <= 0) throw new InvalidInputException("concept_bank", "every concept direction must be non-zero");
            b = zeros(w.shape[0], device: w.device);
        }
        var margin = w.norm(1).reciprocal();
        var scores = nn.functional.linear(d.Features, w, b) / w.norm(1);
        var (cm, cs) = LinearFits.Standardizer(scores);
        var z = (scores - cm) / cs;
        progress("head", 0, iterations);
        var head = LinearFits.Softmax(z, d.Labels, d.Classes, lambda, alpha, iterations, ct: ct);
        progress("head", iterations, iterations);
        var (im, iscale) = ModelParts.Identity(d.InputDim, d.Features.device);
        var spec = new ConceptModelSpec
        {
            ModelType = name, InputDim = d.InputDim, ConceptNames = d.ConceptNames.ToList(), ClassNames = d.ClassNames.ToList(),
            ConceptActivation = ConceptActivations.SignedDistance, Options = new() { ["bank"] = bank },
        };
        var model = new ConceptModel(spec, new Dictionary<string, Tensor>
        {
            [N.InputMean] = im, [N.InputScale] = iscale, [N.ConceptWeight] = w, [N.ConceptBias] = b,
            [N.ConceptMean] = cm, [N.ConceptScale] = cs, [N.HeadWeight] = head.Weight, [N.HeadBias] = head.Bias,
            [N.ConceptMargin] = margin,
        });
        ModelParts.TrainMetrics(model, d, metrics);
        return new BottleneckFit(model, metrics);
    }
}

/// <summary>Options of <see cref="PosthocCbm"/> (and the PCBM part of <see cref="PosthocCbmHybrid"/>).</summary>
public sealed record PosthocCbmOptions(string Bank, double CavL2, double Lambda, double Alpha, int Iterations)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Choice("bank", "auto", "cav (concept_labels) | vectors (concept_bank) | auto (vectors when a bank is sent)", "auto", "cav", "vectors"),
        OptionSpec.Float("cav_l2", 0.001, "ℓ2 penalty of each CAV's logistic classifier", 0),
        OptionSpec.Float("lambda", 0.001, "penalty strength λ of the sparse head", 0),
        OptionSpec.Float("alpha", 0.99, "ℓ1 share α of the head's elastic net", 0, 1),
        OptionSpec.Int("iterations", 500, "FISTA iterations of each fit", 1, 100_000),
    ];

    public static PosthocCbmOptions From(OptionValues o) =>
        new(o.Choice("bank"), o.Float("cav_l2"), o.Float("lambda"), o.Float("alpha"), o.Int("iterations"));
}
