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
/// Sparse-CBM (Semenov et al. 2024): a concept bottleneck layer a = x̃ W_cᵀ + b_c (initialized
/// from the concept bank's unit directions when one is sent, else seeded Gaussian) trained with
/// a temporary readout V by Adam under one of three objectives, then frozen; the final layer is
/// fitted with cross-entropy on the frozen concept activations (FISTA, ℓ2 λ).
/// <list type="bullet">
/// <item>l1:           CE(V a, y) + λ₁‖W_c‖₁ (sparse concept layer), c = a;</item>
/// <item>contrastive:  CE(cos(a, P)/τ, y) with learned class prototypes P ∈ R^{C×K}: each input's
///   concept vector is pulled to its class prototype and pushed from the others (InfoNCE with
///   the prototypes as candidates), c = a;</item>
/// <item>gumbel:       CE(V softmax((a + g)/τ), y), g ~ Gumbel(0, 1) (Gumbel-softmax over concepts,
///   so each input activates few concepts); at inference c = softmax(a/τ), stored with W_c/τ,
///   b_c/τ so that c = softmax(x̃W_cᵀ + b_c).</item>
/// </list>
/// </summary>
public sealed class SparseCbm(SparseCbmOptions options) : IBottleneckMethod
{
    public const string TypeName = "sparse_cbm";

    public string Name => TypeName;

    public BottleneckFit Fit(BottleneckData d, FitProgress progress, CancellationToken ct)
    {
        using var scope = NewDisposeScope();
        var objective = options.Objective;
        double l1 = options.L1, tau = options.Temperature, lr = options.LearningRate, hl = options.HeadLambda;
        int epochs = options.Epochs, batch = options.BatchSize, iterations = options.Iterations;
        var (mean, std) = LinearFits.Standardizer(d.Features);
        var xn = (d.Features - mean) / std;
        var gen = new Generator((ulong)d.Seed, xn.device);
        Tensor w0;
        List<string> names;
        if (d.ConceptBank is { } bank)
        {
            w0 = bank / bank.norm(1, keepdim: true).clamp_min(1e-12f);
            names = d.ConceptNames.ToList();
        }
        else
        {
            int k = options.Concepts;
            w0 = randn(k, d.InputDim, generator: gen, device: xn.device) / Math.Sqrt(d.InputDim);
            names = ModelParts.DefaultNames("concept_", k);
        }
        long kk = w0.shape[0];
        var wc = new TorchSharp.Modules.Parameter(w0.clone(), true);
        var bc = new TorchSharp.Modules.Parameter(zeros(kk, device: xn.device), true);
        var v = new TorchSharp.Modules.Parameter(randn(d.Classes, kk, generator: gen, device: xn.device) * 0.01f, true);
        var vb = new TorchSharp.Modules.Parameter(zeros(d.Classes, device: xn.device), true);
        var opt = optim.Adam([wc, bc, v, vb], lr);
        long n = xn.shape[0];
        for (int e = 0; e < epochs; e++)
        {
            ct.ThrowIfCancellationRequested();
            var perm = randperm(n, generator: gen, device: xn.device);
            for (long s = 0; s < n; s += batch)
            {
                using var step = NewDisposeScope();
                var idx = perm.narrow(0, s, Math.Min(batch, n - s));
                var y = d.Labels.index_select(0, idx);
                var a = nn.functional.linear(xn.index_select(0, idx), wc, bc);
                Tensor loss = objective switch
                {
                    "l1" => nn.functional.cross_entropy(nn.functional.linear(a, v, vb), y) + (float)l1 * wc.abs().sum(),
                    "contrastive" => nn.functional.cross_entropy(
                        nn.functional.normalize(a, dim: 1).matmul(nn.functional.normalize(v, dim: 1).t()) / (float)tau, y),
                    _ => nn.functional.cross_entropy(nn.functional.linear(((a + Gumbel(a.shape, gen, a.device)) / (float)tau).softmax(1), v, vb), y),
                };
                opt.zero_grad();
                loss.backward();
                opt.step();
            }
            perm.Dispose();
            progress("concept_layer", e + 1, epochs);
        }
        var wFinal = wc.detach().clone();
        var bFinal = bc.detach().clone();
        var activation = ConceptActivations.Linear;
        if (objective == "gumbel")
        {
            wFinal = wFinal / (float)tau;
            bFinal = bFinal / (float)tau;
            activation = ConceptActivations.Softmax;
        }
        var a0 = nn.functional.linear(xn, wFinal, bFinal);
        var c = activation == ConceptActivations.Softmax ? a0.softmax(1) : a0;
        var (cm, cs) = LinearFits.Standardizer(c);
        progress("final_layer", 0, iterations);
        var head = LinearFits.Softmax((c - cm) / cs, d.Labels, d.Classes, hl, 0, iterations, ct: ct);
        progress("final_layer", iterations, iterations);
        var spec = new ConceptModelSpec
        {
            ModelType = TypeName, InputDim = d.InputDim, ConceptNames = names, ClassNames = d.ClassNames.ToList(),
            ConceptActivation = activation,
        };
        var model = new ConceptModel(spec, new Dictionary<string, Tensor>
        {
            [N.InputMean] = mean, [N.InputScale] = std, [N.ConceptWeight] = wFinal, [N.ConceptBias] = bFinal,
            [N.ConceptMean] = cm, [N.ConceptScale] = cs, [N.HeadWeight] = head.Weight, [N.HeadBias] = head.Bias,
        });
        var metrics = new Dictionary<string, double>();
        ModelParts.TrainMetrics(model, d, metrics);
        if (activation == ConceptActivations.Softmax)
            using (inference_mode())
            {
                // Effective number of active concepts per input, exp(entropy of c).
                var p = model.Concepts(d.Features).clamp_min(1e-12f);
                metrics["effective_concepts_per_input"] = (-(p * p.log()).sum(1)).exp().mean().item<float>();
            }
        return new BottleneckFit(model, metrics);
    }

    static Tensor Gumbel(long[] shape, Generator gen, Device device)
    {
        var u = rand(shape, generator: gen, device: device).clamp(1e-6f, 1 - 1e-6f);
        return -(-u.log()).log();
    }
}

/// <summary>Options of <see cref="SparseCbm"/>.</summary>
public sealed record SparseCbmOptions(string Objective, int Concepts, double L1, double Temperature, int Epochs, double LearningRate, int BatchSize, double HeadLambda, int Iterations)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Choice("objective", "gumbel", "l1 | contrastive | gumbel", "l1", "contrastive", "gumbel"),
        OptionSpec.Int("concepts", 32, "K when no concept_bank is sent (names concept_0..)", 1, 1 << 16),
        OptionSpec.Float("l1", 1e-4, "λ₁ of the l1 objective", 0),
        OptionSpec.Float("temperature", 0.5, "τ of the contrastive and gumbel objectives", 1e-3, 100),
        OptionSpec.Int("epochs", 20, "Adam epochs of the concept layer", 0, 10_000),
        OptionSpec.Float("learning_rate", 0.003, "Adam learning rate", 1e-8, 10),
        OptionSpec.Int("batch_size", 256, "Adam batch size", 1, 1 << 20),
        OptionSpec.Float("head_lambda", 1e-4, "ℓ2 penalty of the final layer", 0),
        OptionSpec.Int("iterations", 500, "FISTA iterations of the final layer", 1, 100_000),
    ];

    public static SparseCbmOptions From(OptionValues o) =>
        new(o.Choice("objective"), o.Int("concepts"), o.Float("l1"), o.Float("temperature"), o.Int("epochs"), o.Float("learning_rate"),
            o.Int("batch_size"), o.Float("head_lambda"), o.Int("iterations"));
}
