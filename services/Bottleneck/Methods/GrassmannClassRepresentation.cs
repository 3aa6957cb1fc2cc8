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
/// Grassmann class representation (Wang, Li &amp; Zhang, ICCV 2023) on a frozen concept layer. Each
/// class j is an r-dimensional subspace of the head-input space, given by the orthonormal columns
/// of S_j [K, r]; with the ℓ2-normalized head input z the logit is the scaled norm of the
/// projection, logit_j = s·‖S_jᵀ z‖ + b_j (r = 1 is the vector representation up to the sign:
/// s·|ŝ_jᵀz|). The concept layer is frozen before the head is trained:
/// <list type="bullet">
/// <item>features: no concept layer, the concepts are the input features (a GCR probe);</item>
/// <item>cbm: c = σ(x̃W_cᵀ + b_c), the CBM concept predictor fitted to concept_labels (ℓ2 logistic);</item>
/// <item>auto: cbm when concept_labels are sent, else features.</item>
/// </list>
/// representation "vector" is the paper's baseline instead: r = 1 with a signed score, the cosine
/// softmax head logit_j = s·ŝ_jᵀz + b_j, trained by the same optimizer on the sphere and stored as
/// the normalized linear head it is (W_h = s·ŝ_j, head kind "linear").
/// The head input is z = c/‖c‖, as in the paper (features of a ReLU network and concept
/// probabilities are nonnegative); standardize=true centers and scales c first, which a subspace
/// head pays for: ‖S_jᵀz‖ = ‖S_jᵀ(−z)‖, so a class cannot be told from its mirror image.
/// The subspaces are trained by Riemannian SGD on the Grassmannian, minimizing cross-entropy over
/// minibatches: the Euclidean gradient G of each S_j is projected to the tangent space,
/// Π = G − S_j S_jᵀ G; the momentum buffer (kept in the tangent space: after each step it is
/// transported to the new point by the same projection) becomes M ← μM + Π; the step is
/// S_j ← qf(S_j − ηM), the Q factor of a reduced QR with the signs fixed so that diag(R) &gt; 0
/// (a retraction), so every S_j stays orthonormal. The bias takes plain momentum SGD steps. η
/// follows a cosine schedule to 0. Initial subspaces are the QR of a seeded Gaussian (the job's
/// generator), so a fit is a function of its inputs and seed.
/// </summary>
public sealed class GrassmannClassRepresentation(GrassmannOptions options) : IBottleneckMethod
{
    public const string TypeName = "grassmann";

    public string Name => TypeName;

    /// <summary>
    /// Bytes the head's training needs at once (float32): S, its gradient, momentum, the step and QR
    /// temporaries (8 × C·K·r), and a minibatch's projections, norms and their gradients (4 × B·C·r).
    /// </summary>
    public static long StateBytes(long classes, long concepts, long r, long batch)
    {
        long state = RequestBudget.Product(classes, concepts, r, 4 * 8), projections = RequestBudget.Product(batch, classes, r, 4 * 4);
        return state > long.MaxValue - projections ? long.MaxValue : state + projections;
    }

    /// <summary>r ≤ K (INVALID_ARGUMENT naming config.options.subspace_dim) and the head's training state within the per-call budget.</summary>
    public void CheckRequest(BottleneckData d, RequestBudget budget)
    {
        long k = ConceptLayer(d) == "cbm" ? d.ConceptLabels!.shape[1] : d.InputDim;
        if (options.SubspaceDim > k)
            throw new InvalidInputException("config.options.subspace_dim", $"must be <= K = {k} (the head input's width), got {options.SubspaceDim}");
        if (options.Representation == "vector" && options.SubspaceDim != 1)
            throw new InvalidInputException("config.options.subspace_dim", $"representation=vector is one unit vector per class: subspace_dim must be 1, got {options.SubspaceDim}");
        budget.Bytes("config.options.subspace_dim", StateBytes(d.Classes, k, options.SubspaceDim, Math.Min(options.BatchSize, d.Features.shape[0])));
    }

    string ConceptLayer(BottleneckData d) => options.ConceptLayer == "auto" ? (d.ConceptLabels is not null ? "cbm" : "features") : options.ConceptLayer;

    public BottleneckFit Fit(BottleneckData d, FitProgress progress, CancellationToken ct)
    {
        using var scope = NewDisposeScope();
        var layer = ConceptLayer(d);
        // The CBM predictor reads standardized inputs; a features layer is standardized only when asked.
        var (mean, std) = layer == "cbm" || options.Standardize ? LinearFits.Standardizer(d.Features) : ModelParts.Identity(d.InputDim, d.Features.device);
        var xn = (d.Features - mean) / std;
        var tensors = new Dictionary<string, Tensor> { [N.InputMean] = mean, [N.InputScale] = std };
        List<string> names;
        Tensor c;
        var metrics = new Dictionary<string, double>();
        if (layer == "cbm")
        {
            var truth = ModelParts.RequireConceptLabels(d, TypeName)!;
            progress("concepts", 0, 1);
            var g = LinearFits.Logistic(xn, truth, options.ConceptL2, options.Iterations, ct: ct);
            progress("concepts", 1, 1);
            c = nn.functional.linear(xn, g.Weight, g.Bias).sigmoid();
            using (inference_mode()) metrics["train_concept_accuracy"] = LinearFits.ConceptAccuracy(c, truth);
            tensors[N.ConceptWeight] = g.Weight;
            tensors[N.ConceptBias] = g.Bias;
            names = d.ConceptNames.ToList();
        }
        else
        {
            c = xn;
            names = d.ConceptNames.Count == d.InputDim ? d.ConceptNames.ToList() : ModelParts.DefaultNames("feature_", d.InputDim);
        }
        long k = c.shape[1];
        if (options.SubspaceDim > k || (options.Representation == "vector" && options.SubspaceDim != 1))
            throw new InvalidInputException("config.options.subspace_dim", $"must be <= K = {k} (1 for representation=vector), got {options.SubspaceDim}");
        bool vector = options.Representation == "vector";
        var (cm, cs) = layer == "cbm" && options.Standardize ? LinearFits.Standardizer(c) : ModelParts.Identity(k, c.device);
        var z = (c - cm) / cs;
        z = z / z.norm(1, keepdim: true).clamp_min(1e-12f);
        var (s, b) = TrainHead(z, d.Labels, d.Classes, options, d.Seed, progress, ct);
        tensors[N.ConceptMean] = cm;
        tensors[N.ConceptScale] = cs;
        if (vector) tensors[N.HeadWeight] = s.squeeze(2) * (float)options.Scale;
        else tensors[N.HeadSubspaces] = s;
        tensors[N.HeadBias] = b;
        var spec = new ConceptModelSpec
        {
            ModelType = TypeName, InputDim = d.InputDim, ConceptNames = names, ClassNames = d.ClassNames.ToList(),
            ConceptActivation = layer == "cbm" ? ConceptActivations.Sigmoid : ConceptActivations.Linear,
            HasConceptLayer = layer == "cbm", L2NormalizeConcepts = true,
            HeadKind = vector ? HeadKinds.Linear : HeadKinds.Grassmann, HeadScale = vector ? null : options.Scale,
            Options = new() { ["concept_layer"] = layer },
        };
        var model = new ConceptModel(spec, tensors);
        ModelParts.TrainMetrics(model, d, metrics);
        using (inference_mode())
        {
            metrics["orthonormality_error"] = ConceptModel.OrthonormalityError(s);
            metrics["within_class_variance_captured"] = WithinClassVarianceCaptured(z, d.Labels, s);
        }
        return new BottleneckFit(model, metrics);
    }

    /// <summary>
    /// Riemannian SGD with momentum on the class subspaces S [C, K, r] (and momentum SGD on the bias)
    /// minimizing CE(s·‖S_jᵀz‖ + b_j, y) over minibatches of the head inputs z [N, K] (with
    /// representation "vector", r = 1 and the signed CE(s·S_jᵀz + b_j, y)).
    /// </summary>
    public static (Tensor Subspaces, Tensor Bias) TrainHead(Tensor z, Tensor labels, int classes, GrassmannOptions o,
        long seed, FitProgress progress, CancellationToken ct)
    {
        using var scope = NewDisposeScope();
        long n = z.shape[0], k = z.shape[1];
        int r = o.SubspaceDim, batch = o.BatchSize, epochs = o.Epochs;
        float scale = (float)o.Scale, mu = (float)o.Momentum;
        var gen = new Generator((ulong)seed, z.device);
        var s = Retract(randn([classes, k, r], generator: gen, device: z.device)).requires_grad_(true);
        var b = zeros(classes, device: z.device).requires_grad_(true);
        var m = zeros_like(s);
        var mb = zeros_like(b);
        long stepsPerEpoch = (n + batch - 1) / batch, total = Math.Max(1, stepsPerEpoch * epochs), t = 0;
        for (int e = 0; e < epochs; e++)
        {
            ct.ThrowIfCancellationRequested();
            using var epoch = NewDisposeScope();
            var perm = randperm(n, generator: gen, device: z.device);
            for (long at = 0; at < n; at += batch)
            {
                using var step = NewDisposeScope();
                var idx = perm.narrow(0, at, Math.Min(batch, n - at));
                var zb = z.index_select(0, idx);
                var logits = o.Representation == "vector"
                    ? nn.functional.linear(zb, s.squeeze(2) * scale, o.Bias ? b : null)
                    : ConceptModel.GrassmannLogits(s, scale, o.Bias ? b : null, zb);
                var loss = nn.functional.cross_entropy(logits, labels.index_select(0, idx));
                s.grad?.zero_();
                b.grad?.zero_();
                loss.backward();
                float lr = (float)(o.LearningRate * 0.5 * (1 + Math.Cos(Math.PI * t / total)));
                t++;
                using (no_grad())
                {
                    var g = s.grad!;
                    m.mul_(mu).add_(g - s.matmul(s.transpose(1, 2).matmul(g)));
                    s.copy_(Retract(s - lr * m));
                    // Transport the momentum to the new point: its projection on the new tangent space.
                    m.sub_(s.matmul(s.transpose(1, 2).matmul(m)));
                    if (o.Bias)
                    {
                        mb.mul_(mu).add_(b.grad!);
                        b.sub_(lr * mb);
                    }
                }
            }
            progress("subspaces", e + 1, epochs);
        }
        return (s.detach().clone().MoveToOuterDisposeScope(), b.detach().clone().MoveToOuterDisposeScope());
    }

    /// <summary>The QR retraction: Q of A = QR (reduced, batched over classes) with diag(R) ≥ 0, so the map is unique.</summary>
    public static Tensor Retract(Tensor a)
    {
        using var scope = NewDisposeScope();
        var (q, r) = linalg.qr(a, linalg.QRMode.Reduced);
        var sign = r.diagonal(0, -2, -1).sign();
        sign = where(sign.eq(0), ones_like(sign), sign);
        return (q * sign.unsqueeze(1)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Σ_n ‖S_{y_n}ᵀ(z_n − z̄_{y_n})‖² / Σ_n ‖z_n − z̄_{y_n}‖²: the share of the within-class variation
    /// of the head inputs that lies in the own class's subspace.
    /// </summary>
    public static double WithinClassVarianceCaptured(Tensor z, Tensor labels, Tensor subspaces)
    {
        using var scope = NewDisposeScope();
        double captured = 0, total = 0;
        for (long j = 0; j < subspaces.shape[0]; j++)
        {
            var rows = labels.eq(j).nonzero().squeeze(1);
            if (rows.numel() == 0) continue;
            var zj = z.index_select(0, rows);
            var dev = zj - zj.mean([0], keepdim: true);
            captured += dev.matmul(subspaces[j]).square().sum().item<float>();
            total += dev.square().sum().item<float>();
        }
        return total > 0 ? captured / total : 0;
    }
}

/// <summary>Options of <see cref="GrassmannClassRepresentation"/>.</summary>
public sealed record GrassmannOptions(string ConceptLayer, bool Standardize, string Representation, int SubspaceDim, double Scale, int Epochs, double LearningRate, double Momentum,
    int BatchSize, bool Bias, double ConceptL2, int Iterations)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Choice("concept_layer", "auto", "features (the input features, no concept layer) | cbm (CBM concept predictor on concept_labels) | auto (cbm when concept_labels are sent)", "auto", "features", "cbm"),
        OptionSpec.Bool("standardize", false, "center and scale the concepts (features) before the ℓ2 normalization of the head input"),
        OptionSpec.Choice("representation", "subspace", "subspace (class j = span of S_j, logit s·‖S_jᵀz‖) | vector (the paper's baseline: cosine softmax s·ŝ_jᵀz, stored as a linear head; subspace_dim 1)", "subspace", "vector"),
        OptionSpec.Int("subspace_dim", 4, "r, the dimension of each class subspace (1 = vector class representation up to sign; at most K)", 1, 4096),
        OptionSpec.Float("scale", 16, "s in logit_j = s·‖S_jᵀz‖ + b_j (z ℓ2-normalized)", 1e-3, HeadKinds.MaxScale),
        OptionSpec.Int("epochs", 40, "Riemannian SGD epochs", 0, 10_000),
        OptionSpec.Float("learning_rate", 0.1, "initial step η (cosine schedule to 0)", 1e-8, 100),
        OptionSpec.Float("momentum", 0.9, "momentum μ (transported by projection)", 0, 0.999),
        OptionSpec.Int("batch_size", 64, "minibatch size", 1, 1 << 20),
        OptionSpec.Bool("bias", true, "learn a per-class bias b_j"),
        OptionSpec.Float("concept_l2", 1e-4, "ℓ2 penalty of the cbm concept predictor", 0),
        OptionSpec.Int("iterations", 500, "FISTA iterations of the cbm concept predictor", 1, 100_000),
    ];

    public static GrassmannOptions From(OptionValues o) =>
        new(o.Choice("concept_layer"), o.Bool("standardize"), o.Choice("representation"), o.Int("subspace_dim"), o.Float("scale"), o.Int("epochs"), o.Float("learning_rate"), o.Float("momentum"),
            o.Int("batch_size"), o.Bool("bias"), o.Float("concept_l2"), o.Int("iterations"));
}
