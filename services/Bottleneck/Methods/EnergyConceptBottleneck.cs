using ConceptSuite.Bottleneck.Fitting;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Concepts;
using ConceptSuite.Core.Limits;
using ConceptSuite.Core.Methods;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;
using N = ConceptSuite.Core.Concepts.ConceptModel.TensorNames;

namespace ConceptSuite.Bottleneck.Methods;

/// <summary>
/// Energy-based Concept Bottleneck Model (Xu, Qin, Xu, Huang &amp; Wang, ICLR 2024) on precomputed
/// features, stored as an energy head (<see cref="EnergyHead"/> has the networks and the inference).
/// Each energy is trained as the negative log-likelihood of the truth under its Boltzmann
/// distribution against the alternatives:
/// <list type="bullet">
/// <item>class: L_class = −log softmax_y(−E_class(x, ·))[y];</item>
/// <item>concept: L_concept = Σ_k BCE over c_k ∈ {0, 1}, p(c_k = 1 | x) = σ(E_k(x, 0) − E_k(x, 1));</item>
/// <item>global: L_global = −log softmax_y(−E_global(c, ·))[y] plus, per concept, the BCE of c_k
///   against its flip with every other concept and y held, p(c_k | c_−k, y) ∝ exp(−E_global) (a
///   pseudo-likelihood over c: it is what teaches E_global how concepts go together, the
///   dependence an intervention propagates);</item>
/// </list>
/// minimized jointly, L_class + λ_c L_concept + λ_g L_global, by Adam over minibatches from a seeded
/// initialization (the job's generator). Concept labels may be soft (in [0, 1]).
/// </summary>
public sealed class EnergyConceptBottleneck(EnergyOptions options) : IBottleneckMethod
{
    public const string TypeName = "ecbm";

    public string Name => TypeName;

    /// <summary>Parameters of the three networks and embeddings for D inputs, K concepts, C classes.</summary>
    public static long ParameterCount(long d, long k, long c, long h, long e) =>
        Sum(RequestBudget.Product(h, d + 1), RequestBudget.Product(2 * k + c, e), RequestBudget.Product(2, h, h + e + 2),
            RequestBudget.Product(h, k * e + e + 2));

    /// <summary>
    /// Bytes training needs at once (float32): parameters with gradient and two Adam moments (4×),
    /// and a minibatch's activations with their gradients (2× of B·H·(4K + 2C + 1): the concept energies at
    /// c_k = 0 and 1, the class and global energies of every class, the flipped global energies of the own class).
    /// </summary>
    public static long TrainingBytes(long d, long k, long c, long h, long e, long batch) =>
        Sum(RequestBudget.Product(ParameterCount(d, k, c, h, e), 4 * 4),
            RequestBudget.Product(batch, h, Sum(RequestBudget.Product(4, k), RequestBudget.Product(2, c), 1), 2 * 4));

    static long Sum(params long[] v)
    {
        long s = 0;
        foreach (var x in v) s = x > long.MaxValue - s ? long.MaxValue : s + x;
        return s;
    }

    public void CheckRequest(BottleneckData d, RequestBudget budget)
    {
        var truth = ModelParts.RequireConceptLabels(d, TypeName)!;
        budget.Bytes("config.options.hidden", TrainingBytes(d.InputDim, truth.shape[1], d.Classes, options.Hidden, options.EmbeddingDim,
            Math.Min(options.BatchSize, d.Features.shape[0])));
    }

    public BottleneckFit Fit(BottleneckData d, FitProgress progress, CancellationToken ct)
    {
        using var scope = NewDisposeScope();
        var truth = ModelParts.RequireConceptLabels(d, TypeName)!;
        if (truth.min().item<float>() < 0 || truth.max().item<float>() > 1)
            throw new InvalidInputException("concept_labels", "ECBM concept labels are probabilities: values must be in [0, 1]");
        var (mean, std) = LinearFits.Standardizer(d.Features);
        var xn = (d.Features - mean) / std;
        var tensors = Train(xn, d.Labels, truth, d.Classes, d.Seed, progress, ct);
        tensors[N.InputMean] = mean;
        tensors[N.InputScale] = std;
        var spec = new ConceptModelSpec
        {
            ModelType = TypeName, InputDim = d.InputDim, ConceptNames = d.ConceptNames.ToList(), ClassNames = d.ClassNames.ToList(),
            ConceptActivation = ConceptActivations.Sigmoid, HeadKind = HeadKinds.Energy,
            Energy = new EnergyHeadSpec
            {
                LambdaConcept = options.LambdaConcept, LambdaGlobal = options.LambdaGlobal,
                Steps = options.InferenceSteps, StepSize = options.InferenceStepSize,
            },
        };
        var model = new ConceptModel(spec, tensors);
        var metrics = new Dictionary<string, double>();
        ModelParts.TrainMetrics(model, d, metrics);
        using (inference_mode()) metrics["train_concept_accuracy"] = LinearFits.ConceptAccuracy(model.Concepts(d.Features), truth);
        if (options.Conditionals)
        {
            // p(c_k = 1 | y) under the global energy (mean-field), one metric per class and concept.
            using var p = model.ConceptConditionals();
            var values = p.cpu().data<float>().ToArray();
            for (int y = 0; y < d.Classes; y++)
                for (int k = 0; k < d.ConceptNames.Count; k++)
                    metrics[$"p({d.ConceptNames[k]}|{d.ClassNames[y]})"] = values[y * d.ConceptNames.Count + k];
        }
        return new BottleneckFit(model, metrics);
    }

    Dictionary<string, Tensor> Train(Tensor xn, Tensor y, Tensor truth, int classes, long seed, FitProgress progress, CancellationToken ct)
    {
        long n = xn.shape[0], dim = xn.shape[1], k = truth.shape[1], h = options.Hidden, e = options.EmbeddingDim;
        var gen = new Generator((ulong)seed, xn.device);
        // He-style initialization for the ReLU layers, unit-scale embeddings; the job's generator only.
        Tensor Init(long fanIn, params long[] shape) => randn(shape, generator: gen, device: xn.device) * (float)Math.Sqrt(1.0 / fanIn);
        var p = new Dictionary<string, Tensor>
        {
            [N.EnergyFeatureWeight] = Init(dim, h, dim), [N.EnergyFeatureBias] = zeros(h, device: xn.device),
            [N.EnergyConceptPositive] = Init(1, k, e), [N.EnergyConceptNegative] = Init(1, k, e), [N.EnergyLabelEmbedding] = Init(1, classes, e),
            [N.EnergyConceptW1] = Init(h + e, h, h + e), [N.EnergyConceptB1] = zeros(h, device: xn.device), [N.EnergyConceptW2] = Init(h, h),
            [N.EnergyClassW1] = Init(h + e, h, h + e), [N.EnergyClassB1] = zeros(h, device: xn.device), [N.EnergyClassW2] = Init(h, h),
            [N.EnergyGlobalW1] = Init(k * e + e, h, k * e + e), [N.EnergyGlobalB1] = zeros(h, device: xn.device), [N.EnergyGlobalW2] = Init(h, h),
        };
        var parameters = p.ToDictionary(kv => kv.Key, kv => new TorchSharp.Modules.Parameter(kv.Value, true));
        var opt = optim.Adam(parameters.Values, options.LearningRate);
        float lc = (float)options.LambdaConcept, lg = (float)options.LambdaGlobal;
        int batch = options.BatchSize;
        for (int epoch = 0; epoch < options.Epochs; epoch++)
        {
            ct.ThrowIfCancellationRequested();
            using var perEpoch = NewDisposeScope();
            var perm = randperm(n, generator: gen, device: xn.device);
            for (long at = 0; at < n; at += batch)
            {
                using var step = NewDisposeScope();
                var idx = perm.narrow(0, at, Math.Min(batch, n - at));
                var (xb, yb, cb) = (xn.index_select(0, idx), y.index_select(0, idx), truth.index_select(0, idx));
                var nets = EnergyHead.Nets.From(parameters.ToDictionary(kv => kv.Key, kv => (Tensor)kv.Value));
                var hb = nets.Features(xb);
                var conceptLoss = nn.functional.binary_cross_entropy_with_logits(nets.ConceptLogOdds(nets.ConceptInput(hb)), cb);
                var classLoss = nn.functional.cross_entropy(-nets.ClassEnergies(hb), yb);
                var globalLoss = nn.functional.cross_entropy(-nets.GlobalEnergies(cb), yb);
                // Pseudo-likelihood of each c_k given c_−k and y: c_k set to 1 and to 0 with the rest held.
                var conditionalLoss = nn.functional.binary_cross_entropy_with_logits(nets.ConditionalLogOdds(cb, yb), cb);
                var loss = classLoss + lc * conceptLoss + lg * (globalLoss + conditionalLoss);
                opt.zero_grad();
                loss.backward();
                opt.step();
            }
            progress("energies", epoch + 1, options.Epochs);
        }
        return parameters.ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
    }
}

/// <summary>Options of <see cref="EnergyConceptBottleneck"/>.</summary>
public sealed record EnergyOptions(int Hidden, int EmbeddingDim, double LambdaConcept, double LambdaGlobal, int Epochs, double LearningRate, int BatchSize,
    int InferenceSteps, double InferenceStepSize, bool Conditionals)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Int("hidden", 64, "H, hidden width of the feature encoder and of each energy network", 1, 4096),
        OptionSpec.Int("embedding_dim", 16, "E, dimension of the concept embeddings v_k± and label embeddings u_y", 1, 1024),
        OptionSpec.Float("lambda_concept", 1, "λ_c, weight of the concept energy (training loss and inference)", 0, EnergyHeadSpec.MaxLambda),
        OptionSpec.Float("lambda_global", 1, "λ_g, weight of the global energy (training loss and inference)", 0, EnergyHeadSpec.MaxLambda),
        OptionSpec.Int("epochs", 40, "Adam epochs", 0, 10_000),
        OptionSpec.Float("learning_rate", 0.006, "Adam learning rate", 1e-8, 10),
        OptionSpec.Int("batch_size", 128, "Adam batch size", 1, 1 << 20),
        OptionSpec.Int("inference_steps", 50, "gradient steps of the concept minimization at inference", 0, EnergyHeadSpec.MaxSteps),
        OptionSpec.Float("inference_step_size", 1, "step size η of the minimization over the free concept logits", 1e-6, EnergyHeadSpec.MaxStepSize),
        OptionSpec.Bool("conditionals", false, "add p(c_k = 1 | y) under the global energy (mean-field) to the metrics, one \"p(concept|class)\" entry per pair"),
    ];

    public static EnergyOptions From(OptionValues o) =>
        new(o.Int("hidden"), o.Int("embedding_dim"), o.Float("lambda_concept"), o.Float("lambda_global"), o.Int("epochs"), o.Float("learning_rate"),
            o.Int("batch_size"), o.Int("inference_steps"), o.Float("inference_step_size"), o.Bool("conditionals"));
}
