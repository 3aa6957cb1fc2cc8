using ConceptSuite.Bottleneck.Fitting;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Concepts;
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
public sealed class ConceptBottleneckModel : IBottleneckMethod
{
    public string Name => "cbm";
    public string Description => "Concept bottleneck: c = σ(x̃W_cᵀ + b_c) supervised by concept labels (BCE), logits = cW_hᵀ + b_h (CE); training independent | sequential | joint (CE + λ_c·BCE).";
    public string Paper => "Koh et al. 2020, Concept Bottleneck Models (ICML)";
    public bool RequiresConceptLabels => true;
    public bool RequiresConceptBank => false;
    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("training", "sequential", "independent | sequential | joint"),
        new("concept_loss_weight", "1", "λ_c, weight of the concept loss in joint training"),
        new("concept_l2", "0.0001", "ℓ2 penalty of the concept predictor"),
        new("head_lambda", "0.0001", "ℓ2 penalty of the label predictor"),
        new("iterations", "500", "FISTA iterations of each convex fit"),
        new("joint_epochs", "30", "Adam epochs of joint training"),
        new("learning_rate", "0.003", "Adam learning rate of joint training"),
        new("batch_size", "256", "Adam batch size of joint training"),
    ];

    public BottleneckFit Fit(BottleneckData d, MethodOptions o, FitProgress progress, CancellationToken ct)
    {
        using var scope = NewDisposeScope();
        var mode = o.Choice("training", "independent", "sequential", "joint");
        double lc = o.Double("concept_loss_weight", 0), cl2 = o.Double("concept_l2", 0), hl = o.Double("head_lambda", 0);
        int iterations = o.Int("iterations", 1, 100_000);
        var truth = ModelParts.RequireConceptLabels(d, Name)!;
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
            (wc, bc, wh, bh) = Joint(xn, d.Labels, truth, g, f, lc, hl, cl2, o, d.Seed, progress, ct);

        var (cm, cs) = ModelParts.Identity(truth.shape[1], d.Features.device);
        var spec = new ConceptModelSpec
        {
            ModelType = Name, InputDim = d.InputDim, ConceptNames = d.ConceptNames.ToList(), ClassNames = d.ClassNames.ToList(),
            ConceptActivation = ConceptActivations.Sigmoid, Options = o.Resolved(),
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
        double lc, double hl, double cl2, MethodOptions o, long seed, FitProgress progress, CancellationToken ct)
    {
        int epochs = o.Int("joint_epochs", 0, 10_000), batch = o.Int("batch_size", 1, 1 << 20);
        double lr = o.Double("learning_rate", 1e-8, 10);
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
