using ConceptSuite.Bottleneck.Fitting;
using ConceptSuite.Core.Concepts;
using ConceptSuite.Core.Methods;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;
using N = ConceptSuite.Core.Concepts.ConceptModel.TensorNames;

namespace ConceptSuite.Bottleneck.Methods;

/// <summary>
/// The honest baseline: multinomial logistic regression on standardized features,
/// logits = x̃ Wᵀ + b with x̃ = (x − μ)/σ, fitted by min CE + λ/2‖W‖² (elastic net with α = 0
/// unless set). It has no concept layer: its "concepts" are the standardized input features, so
/// Contributions are per-feature shares W[j, d]·x̃[d] and the same RPCs apply.
/// </summary>
public sealed class LinearProbe(LinearProbeOptions options) : IBottleneckMethod
{
    public const string TypeName = "linear_probe";

    public string Name => TypeName;

    public BottleneckFit Fit(BottleneckData d, FitProgress progress, CancellationToken ct)
    {
        using var scope = NewDisposeScope();
        double lambda = options.Lambda, alpha = options.Alpha;
        int iterations = options.Iterations;
        var (mean, std) = LinearFits.Standardizer(d.Features);
        var xn = (d.Features - mean) / std;
        progress("fit", 0, iterations);
        var head = LinearFits.Softmax(xn, d.Labels, d.Classes, lambda, alpha, iterations, ct: ct);
        progress("fit", iterations, iterations);
        var names = d.ConceptNames.Count == d.InputDim ? d.ConceptNames.ToList() : ModelParts.DefaultNames("feature_", d.InputDim);
        var (cm, cs) = ModelParts.Identity(d.InputDim, d.Features.device);
        var spec = new ConceptModelSpec
        {
            ModelType = TypeName, InputDim = d.InputDim, ConceptNames = names, ClassNames = d.ClassNames.ToList(),
            ConceptActivation = ConceptActivations.Linear, HasConceptLayer = false,
        };
        var model = new ConceptModel(spec, new Dictionary<string, Tensor>
        {
            [N.InputMean] = mean, [N.InputScale] = std, [N.ConceptMean] = cm, [N.ConceptScale] = cs,
            [N.HeadWeight] = head.Weight, [N.HeadBias] = head.Bias,
        });
        var metrics = new Dictionary<string, double>();
        ModelParts.TrainMetrics(model, d, metrics);
        return new BottleneckFit(model, metrics);
    }
}

/// <summary>Options of <see cref="LinearProbe"/>.</summary>
public sealed record LinearProbeOptions(double Lambda, double Alpha, int Iterations)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Float("lambda", 1e-4, "penalty strength λ", 0),
        OptionSpec.Float("alpha", 0, "ℓ1 share α of the elastic-net penalty (0 = ridge)", 0, 1),
        OptionSpec.Int("iterations", 500, "FISTA iterations", 1, 100_000),
    ];

    public static LinearProbeOptions From(OptionValues o) =>
        new(o.Float("lambda"), o.Float("alpha"), o.Int("iterations"));
}
