using ConceptSuite.Bottleneck.Fitting;
using ConceptSuite.Core.Concepts;
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
public sealed class LinearProbe : IBottleneckMethod
{
    public string Name => "linear_probe";
    public string Description => "Linear probe on standardized features: logits = x̃Wᵀ + b, min CE + λ(α‖W‖₁ + (1−α)/2‖W‖²). The baseline every report shows.";
    public string Paper => "Alain & Bengio 2016, Understanding intermediate layers using linear classifier probes";
    public bool RequiresConceptLabels => false;
    public bool RequiresConceptBank => false;
    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("lambda", "0.0001", "penalty strength λ"),
        new("alpha", "0", "ℓ1 share α of the elastic-net penalty (0 = ridge)"),
        new("iterations", "500", "FISTA iterations"),
    ];

    public BottleneckFit Fit(BottleneckData d, MethodOptions o, FitProgress progress, CancellationToken ct)
    {
        using var scope = NewDisposeScope();
        double lambda = o.Double("lambda", 0), alpha = o.Double("alpha", 0, 1);
        int iterations = o.Int("iterations", 1, 100_000);
        var (mean, std) = LinearFits.Standardizer(d.Features);
        var xn = (d.Features - mean) / std;
        progress("fit", 0, iterations);
        var head = LinearFits.Softmax(xn, d.Labels, d.Classes, lambda, alpha, iterations, ct: ct);
        progress("fit", iterations, iterations);
        var names = d.ConceptNames.Count == d.InputDim ? d.ConceptNames.ToList() : ModelParts.DefaultNames("feature_", d.InputDim);
        var (cm, cs) = ModelParts.Identity(d.InputDim, d.Features.device);
        var spec = new ConceptModelSpec
        {
            ModelType = Name, InputDim = d.InputDim, ConceptNames = names, ClassNames = d.ClassNames.ToList(),
            ConceptActivation = ConceptActivations.Linear, HasConceptLayer = false, Options = o.Resolved(),
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
