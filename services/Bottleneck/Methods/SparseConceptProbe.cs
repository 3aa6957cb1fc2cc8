using ConceptSuite.Bottleneck.Fitting;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Concepts;
using ConceptSuite.Core.Methods;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;
using N = ConceptSuite.Core.Concepts.ConceptModel.TensorNames;

namespace ConceptSuite.Bottleneck.Methods;

/// <summary>
/// Sparse linear probe on discovered concepts (Discover-then-Name, Rao et al. ECCV 2024;
/// label-free CBM, Oikarinen et al. ICLR 2023). Concept activations are either the features
/// themselves (e.g. sparse-autoencoder codes from the discovery stage) or projections
/// c_k = d_k·x on given dictionary atoms. The head is fitted along an elastic-net path
///   λ_i = λ_max · r^{i/(m−1)},  λ_max = max |∇_W CE(0)| / α,  i = 0..m−1,
/// with warm starts, recording at each λ the accuracy and the number of concepts each class uses
/// (non-zero weights per row of W). The stored model is the most accurate point whose every
/// class uses at most max_concepts_per_class concepts (accuracy on the eval rows when sent).
/// </summary>
public sealed class SparseConceptProbe(SparseConceptProbeOptions options) : IBottleneckMethod
{
    public const string TypeName = "sparse_probe";

    public string Name => TypeName;

    public BottleneckFit Fit(BottleneckData d, FitProgress progress, CancellationToken ct)
    {
        using var scope = NewDisposeScope();
        int budget = options.MaxConceptsPerClass, m = options.PathLength, iterations = options.Iterations;
        double alpha = options.Alpha, ratio = options.PathRatio;
        bool hasLayer = d.ConceptBank is not null;
        Tensor w, b;
        if (hasLayer)
        {
            w = d.ConceptBank!.clone();
            b = zeros(w.shape[0], device: w.device);
        }
        else
        {
            w = empty(0); b = empty(0);
        }
        Tensor Scores(Tensor x) => hasLayer ? nn.functional.linear(x, w, b) : x;
        var scores = Scores(d.Features);
        long k = scores.shape[1];
        var names = d.ConceptNames.Count == k ? d.ConceptNames.ToList() : ModelParts.DefaultNames("concept_", k);
        var (cm, cs) = LinearFits.Standardizer(scores);
        var z = (scores - cm) / cs;
        var zEval = d.EvalFeatures is not null && d.EvalLabels is not null ? (Scores(d.EvalFeatures) - cm) / cs : z;
        var yEval = d.EvalFeatures is not null && d.EvalLabels is not null ? d.EvalLabels : d.Labels;

        // λ_max: the smallest λ at which W = 0 is optimal (gradient at W = 0 with the fitted bias).
        var prior = nn.functional.one_hot(d.Labels, d.Classes).to(ScalarType.Float32).mean([0]).clamp_min(1e-6f);
        var g0 = (prior.log().unsqueeze(0).expand(z.shape[0], -1).softmax(1) - nn.functional.one_hot(d.Labels, d.Classes).to(ScalarType.Float32)).t().matmul(z) / z.shape[0];
        double lambdaMax = g0.abs().max().item<float>() / alpha;
        var curvature = LinearFits.Curvature(z);
        var metrics = new Dictionary<string, double> { ["lambda_max"] = lambdaMax };
        LinearWeights? current = new(zeros(d.Classes, k, device: z.device), prior.log());
        LinearWeights? best = null;
        double bestAcc = -1, bestLambda = 0, bestPerClass = 0;
        for (int i = 0; i < m; i++)
        {
            double lambda = lambdaMax * Math.Pow(ratio, i / (double)(m - 1));
            current = LinearFits.Softmax(z, d.Labels, d.Classes, lambda, alpha, iterations, start: current, curvature: curvature, ct: ct);
            var perClass = current.Weight.ne(0).sum(1).max().item<long>();
            var acc = LinearFits.Accuracy(nn.functional.linear(zEval, current.Weight, current.Bias), yEval);
            metrics[$"path_{i:D2}_lambda"] = lambda;
            metrics[$"path_{i:D2}_accuracy"] = acc;
            metrics[$"path_{i:D2}_concepts_per_class"] = perClass;
            if (perClass <= budget && perClass > 0 && acc > bestAcc) { best = current; bestAcc = acc; bestLambda = lambda; bestPerClass = perClass; }
            progress("path", i + 1, m);
        }
        if (best is null)
            throw new InvalidInputException("config.options.max_concepts_per_class", $"no point of the λ path uses between 1 and {budget} concepts per class; lengthen the path or lower path_ratio");
        metrics["chosen_lambda"] = bestLambda;
        metrics["chosen_accuracy"] = bestAcc;
        metrics["chosen_concepts_per_class"] = bestPerClass;

        var (im, iscale) = ModelParts.Identity(d.InputDim, d.Features.device);
        var tensors = new Dictionary<string, Tensor>
        {
            [N.InputMean] = im, [N.InputScale] = iscale, [N.ConceptMean] = cm, [N.ConceptScale] = cs,
            [N.HeadWeight] = best.Weight, [N.HeadBias] = best.Bias,
        };
        if (hasLayer) { tensors[N.ConceptWeight] = w; tensors[N.ConceptBias] = b; }
        var spec = new ConceptModelSpec
        {
            ModelType = TypeName, InputDim = d.InputDim, ConceptNames = names, ClassNames = d.ClassNames.ToList(),
            ConceptActivation = ConceptActivations.Linear, HasConceptLayer = hasLayer,
        };
        var model = new ConceptModel(spec, tensors);
        ModelParts.TrainMetrics(model, d, metrics);
        return new BottleneckFit(model, metrics);
    }
}

/// <summary>Options of <see cref="SparseConceptProbe"/>.</summary>
public sealed record SparseConceptProbeOptions(int MaxConceptsPerClass, double Alpha, int PathLength, double PathRatio, int Iterations)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Int("max_concepts_per_class", 5, "sparsity budget: non-zero head weights per class", 1, 1 << 20),
        OptionSpec.Float("alpha", 0.99, "ℓ1 share α of the elastic net", 1e-6, 1),
        OptionSpec.Int("path_length", 20, "number m of λ values on the path", 2, 1000),
        OptionSpec.Float("path_ratio", 0.001, "λ_min/λ_max", 1e-9, 1),
        OptionSpec.Int("iterations", 200, "FISTA iterations per λ (warm-started)", 1, 100_000),
    ];

    public static SparseConceptProbeOptions From(OptionValues o) =>
        new(o.Int("max_concepts_per_class"), o.Float("alpha"), o.Int("path_length"), o.Float("path_ratio"), o.Int("iterations"));
}
