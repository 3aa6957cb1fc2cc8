using ConceptSuite.Bottleneck.Fitting;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Concepts;
using ConceptSuite.Core.Methods;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;
using N = ConceptSuite.Core.Concepts.ConceptModel.TensorNames;

namespace ConceptSuite.Bottleneck.Methods;

/// <summary>
/// Concept bottleneck model with concept supervision (Koh et al. 2020): concept predictor
/// g(x) = σ(x̃ W_cᵀ + b_c) ∈ [0,1]^K, label predictor f(c) = c W_hᵀ + b_h.
/// <list type="bullet">
/// <item>independent: g by min Σ_k BCE(g_k(x), c_k); f by min CE(f(c_true), y); at test f(g(x));</item>
/// <item>sequential: g as above; f by min CE(f(g(x)), y) on the predicted concepts;</item>
/// <item>joint: min CE(f(g(x)), y) + λ_c Σ_k BCE(g_k(x), c_k) over both, by Adam from the
///   sequential solution.</item>
/// </list>
/// Concepts are probabilities, so interventions take values in [0, 1].
/// </summary>
public sealed class ConceptBottleneckModel(ConceptBottleneckModelOptions options) : IBottleneckMethod
{
    public const string TypeName = "cbm";

    public string Name => TypeName;

    public BottleneckFit Fit(BottleneckData d, FitProgress progress, CancellationToken ct)
    {
        using var scope = NewDisposeScope();
        var mode = options.Training;
        double lc = options.ConceptLossWeight, cl2 = options.ConceptL2, hl = options.HeadLambda;
        int iterations = options.Iterations;
        var truth = ModelParts.RequireConceptLabels(d, TypeName)!;
        if (truth.min().item<float>() < 0 || truth.max().item<float>() > 1)
            throw new InvalidInputException("concept_labels", "CBM concept labels are probabilities: values must be in [0, 1]");
        var (mean, std) = LinearFits.Standardizer(d.Features);
        var xn = (d.Features - mean) / std;
        var curvature = LinearFits.Curvature(xn);

        progress("concepts", 0, 1);
        var g = LinearFits.Logistic(xn, truth, cl2, iterations, curvature, ct);
        progress("concepts", 1, 1);
        var predicted = nn.functional.linear(xn, g.Weight, g.Bias).sigmoid();
        var headInput = mode == "independent" ? truth : predicted;
        var f = LinearFits.Softmax(headInput, d.Labels, d.Classes, hl, 0, iterations, ct: ct);
        Tensor wc = g.Weight, bc = g.Bias, wh = f.Weight, bh = f.Bias;

        if (mode == "joint")
            (wc, bc, wh, bh) = Joint(xn, d.Labels, truth, g, f, lc, hl, cl2, options, d.Seed, progress, ct);

        var (cm, cs) = ModelParts.Identity(truth.shape[1], d.Features.device);
        var spec = new ConceptModelSpec
        {
            ModelType = TypeName, InputDim = d.InputDim, ConceptNames = d.ConceptNames.ToList(), ClassNames = d.ClassNames.ToList(),
            ConceptActivation = ConceptActivations.Sigmoid,
        };
        var model = new ConceptModel(spec, new Dictionary<string, Tensor>
        {
            [N.InputMean] = mean, [N.InputScale] = std, [N.ConceptWeight] = wc, [N.ConceptBias] = bc,
            [N.ConceptMean] = cm, [N.ConceptScale] = cs, [N.HeadWeight] = wh, [N.HeadBias] = bh,
        });
        var metrics = new Dictionary<string, double>();
        ModelParts.TrainMetrics(model, d, metrics);
        using (inference_mode()) metrics["train_concept_accuracy"] = LinearFits.ConceptAccuracy(model.Concepts(d.Features), truth);
        return new BottleneckFit(model, metrics);
    }

    static (Tensor, Tensor, Tensor, Tensor) Joint(Tensor xn, Tensor y, Tensor truth, LinearWeights g, LinearWeights f,
        double lc, double hl, double cl2, ConceptBottleneckModelOptions o, long seed, FitProgress progress, CancellationToken ct)
    {
        int epochs = o.JointEpochs, batch = o.BatchSize;
        double lr = o.LearningRate;
        var wc = new TorchSharp.Modules.Parameter(g.Weight.clone(), true);
        var bc = new TorchSharp.Modules.Parameter(g.Bias.clone(), true);
        var wh = new TorchSharp.Modules.Parameter(f.Weight.clone(), true);
        var bh = new TorchSharp.Modules.Parameter(f.Bias.clone(), true);
        var opt = optim.Adam([wc, bc, wh, bh], lr);
        var gen = new Generator((ulong)seed, xn.device);
        long n = xn.shape[0];
        for (int e = 0; e < epochs; e++)
        {
            ct.ThrowIfCancellationRequested();
            var perm = randperm(n, generator: gen, device: xn.device);
            for (long s = 0; s < n; s += batch)
            {
                using var step = NewDisposeScope();
                var idx = perm.narrow(0, s, Math.Min(batch, n - s));
                var a = nn.functional.linear(xn.index_select(0, idx), wc, bc);
                var logits = nn.functional.linear(a.sigmoid(), wh, bh);
                var loss = nn.functional.cross_entropy(logits, y.index_select(0, idx))
                    + (float)lc * nn.functional.binary_cross_entropy_with_logits(a, truth.index_select(0, idx))
                    + (float)(hl / 2) * wh.square().sum() + (float)(cl2 / 2) * wc.square().sum();
                opt.zero_grad();
                loss.backward();
                opt.step();
            }
            perm.Dispose();
            progress("joint", e + 1, epochs);
        }
        return (wc.detach().clone(), bc.detach().clone(), wh.detach().clone(), bh.detach().clone());
    }
}

/// <summary>Options of <see cref="ConceptBottleneckModel"/>.</summary>
public sealed record ConceptBottleneckModelOptions(string Training, double ConceptLossWeight, double ConceptL2, double HeadLambda, int Iterations, int JointEpochs, double LearningRate, int BatchSize)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Choice("training", "sequential", "independent | sequential | joint", "independent", "sequential", "joint"),
        OptionSpec.Float("concept_loss_weight", 1, "λ_c, weight of the concept loss in joint training", 0),
        OptionSpec.Float("concept_l2", 1e-4, "ℓ2 penalty of the concept predictor", 0),
        OptionSpec.Float("head_lambda", 1e-4, "ℓ2 penalty of the label predictor", 0),
        OptionSpec.Int("iterations", 500, "FISTA iterations of each convex fit", 1, 100_000),
        OptionSpec.Int("joint_epochs", 30, "Adam epochs of joint training", 0, 10_000),
        OptionSpec.Float("learning_rate", 0.003, "Adam learning rate of joint training", 1e-8, 10),
        OptionSpec.Int("batch_size", 256, "Adam batch size of joint training", 1, 1 << 20),
    ];

    public static ConceptBottleneckModelOptions From(OptionValues o) =>
        new(o.Choice("training"), o.Float("concept_loss_weight"), o.Float("concept_l2"), o.Float("head_lambda"), o.Int("iterations"),
            o.Int("joint_epochs"), o.Float("learning_rate"), o.Int("batch_size"));
}
