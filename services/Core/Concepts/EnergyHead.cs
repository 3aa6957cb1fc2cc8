using System.Text.Json.Serialization;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;
using N = ConceptSuite.Core.Concepts.ConceptModel.TensorNames;

namespace ConceptSuite.Core.Concepts;

/// <summary>The inference settings of an energy head, stored in the spec's "energy" object.</summary>
public sealed record EnergyHeadSpec
{
    /// <summary>λ_c, the weight of E_concept in the total energy.</summary>
    [JsonPropertyName("lambda_concept")] public double LambdaConcept { get; init; } = 1;
    /// <summary>λ_g, the weight of E_global in the total energy.</summary>
    [JsonPropertyName("lambda_global")] public double LambdaGlobal { get; init; } = 1;
    /// <summary>Gradient steps of the concept minimization at inference (fixed: the result is a function of the input).</summary>
    [JsonPropertyName("steps")] public int Steps { get; init; } = 50;
    /// <summary>Step size η of the minimization over the free concept logits.</summary>
    [JsonPropertyName("step_size")] public double StepSize { get; init; } = 1;

    /// <summary>Largest λ_c, λ_g a stored head may carry.</summary>
    public const double MaxLambda = 1e3;
    /// <summary>Largest step count a stored head may ask for (inference cost is linear in it).</summary>
    public const int MaxSteps = 1000;
    /// <summary>Largest step size a stored head may carry.</summary>
    public const double MaxStepSize = 100;
}

/// <summary>
/// The energy head of an Energy-based Concept Bottleneck Model (ECBM; Xu et al., ICLR 2024): three
/// energy networks over the input x, concepts c ∈ [0, 1]^K and class y, on standardized features x̃
/// (tensor names in <see cref="ConceptModel.TensorNames"/>, all prefixed "energy_"):
/// <code>
///   h = relu(W_f x̃ + b_f)                                                feature encoder [H]
///   v_k(c_k) = c_k v_k⁺ + (1 − c_k) v_k⁻                                   concept embedding [E]
///   E_concept(x, c) = Σ_k w_cᵀ relu(W_c [h ; v_k(c_k)] + b_c)              concept energy
///   E_class(x, y)   = w_yᵀ relu(W_y [h ; u_y] + b_y)                       class energy, label embedding u_y [E]
///   E_global(c, y)  = w_gᵀ relu(W_g [v_1(c_1) ⊕ … ⊕ v_K(c_K) ; u_y] + b_g)  global energy
///   E(x, c, y) = λ_c E_concept + λ_g E_global + E_class
/// </code>
/// Inference: ĉ = σ(s) with free logits s, initialised at the concept energy's own Boltzmann log-odds
/// s_k = E_k(x, 0) − E_k(x, 1), then a fixed number of gradient steps s ← s − η ∇_s F on the free
/// energy F(x, c) = λ_c E_concept(x, c) − log Σ_y exp(−λ_g E_global(c, y) − E_class(x, y)), which is
/// the minimum over a relaxed class distribution ŷ of Σ_y ŷ_y E(x, c, y) − H(ŷ) (the class is
/// minimized in closed form, the Boltzmann posterior). The class scores are logit_y = −E(x, ĉ, y), so
/// the prediction is argmin_y E(x, ĉ, y). An intervention fixes the given concepts at their values and
/// re-minimizes the others, so concepts correlated with the fixed ones move too. Everything is
/// deterministic: fixed init, fixed steps, no randomness.
/// </summary>
public static class EnergyHead
{
    /// <summary>Rows minimized at once (bounds the [rows, K + C, H] activations of one step).</summary>
    const long ChunkElements = 1L << 22;

    /// <summary>
    /// The energy networks ready to evaluate, from a tensor map by <see cref="ConceptModel.TensorNames"/>
    /// (stored tensors, or the parameters during training: everything stays differentiable). The
    /// stored concatenated first layers are split: W_c = [W_c,h | W_c,v], W_y = [W_y,h | W_y,u];
    /// W_g's concept part [H, K·E] folds with v⁺ − v⁻ into G [H, K] and with v⁻ into g₀ [H], since
    /// W_g,c (v_1(c_1) ⊕ … ⊕ v_K(c_K)) = G c + g₀ exactly. The tensors belong to the caller's dispose scope.
    /// </summary>
    public sealed class Nets
    {
        Tensor _wf = null!, _bf = null!, _pos = null!, _neg = null!, _wc = null!, _bc = null!, _wcv = null!,
            _wy = null!, _by = null!, _wyv = null!, _uy = null!, _g = null!, _g0 = null!, _ug = null!, _wgv = null!;
        public long Hidden { get; private init; }
        public long Concepts { get; private init; }
        public long Classes { get; private init; }

        public static Nets From(IReadOnlyDictionary<string, Tensor> t)
        {
            var wf = t[N.EnergyFeatureWeight];
            var vpos = t[N.EnergyConceptPositive];
            var vneg = t[N.EnergyConceptNegative];
            var u = t[N.EnergyLabelEmbedding];
            long h = wf.shape[0], k = vpos.shape[0], e = vpos.shape[1];
            var wc1 = t[N.EnergyConceptW1];
            var wy1 = t[N.EnergyClassW1];
            var wg1 = t[N.EnergyGlobalW1];
            var wgc = wg1.narrow(1, 0, k * e).reshape(h, k, e);
            var wcv = wc1.narrow(1, h, e);
            return new Nets
            {
                Hidden = h, Concepts = k, Classes = u.shape[0],
                _wf = wf, _bf = t[N.EnergyFeatureBias],
                _wc = wc1.narrow(1, 0, h), _bc = t[N.EnergyConceptB1], _wcv = t[N.EnergyConceptW2],
                _pos = vpos.matmul(wcv.t()), _neg = vneg.matmul(wcv.t()),
                _wy = wy1.narrow(1, 0, h), _by = t[N.EnergyClassB1], _wyv = t[N.EnergyClassW2], _uy = u.matmul(wy1.narrow(1, h, e).t()),
                _g = einsum("hke,ke->hk", wgc, vpos - vneg), _g0 = einsum("hke,ke->h", wgc, vneg) + t[N.EnergyGlobalB1],
                _ug = u.matmul(wg1.narrow(1, k * e, e).t()), _wgv = t[N.EnergyGlobalW2],
            };
        }

        /// <summary>h = relu(W_f x̃ + b_f) [N, H].</summary>
        public Tensor Features(Tensor xn) => nn.functional.relu(nn.functional.linear(xn, _wf, _bf));

        /// <summary>A = W_c,h h + b_c [N, H], the input's share of every concept network's first layer.</summary>
        public Tensor ConceptInput(Tensor h) => nn.functional.linear(h, _wc, _bc);

        /// <summary>E_k(x, c_k) for every concept [N, K] from A = <see cref="ConceptInput"/>.</summary>
        public Tensor ConceptEnergies(Tensor a, Tensor c) =>
            nn.functional.relu(a.unsqueeze(1) + _neg + c.unsqueeze(2) * (_pos - _neg)).matmul(_wcv);

        /// <summary>Boltzmann log-odds of each concept under E_concept alone: log p(c_k=1|x)/p(c_k=0|x) = E_k(x, 0) − E_k(x, 1) [N, K].</summary>
        public Tensor ConceptLogOdds(Tensor a)
        {
            long rows = a.shape[0];
            return ConceptEnergies(a, zeros(rows, Concepts, device: a.device)) - ConceptEnergies(a, ones(rows, Concepts, device: a.device));
        }

        /// <summary>E_class(x, y) for every class [N, C].</summary>
        public Tensor ClassEnergies(Tensor h) =>
            nn.functional.relu(nn.functional.linear(h, _wy, _by).unsqueeze(1) + _uy).matmul(_wyv);

        /// <summary>E_global(c, y) for every class [N, C].</summary>
        public Tensor GlobalEnergies(Tensor c) => nn.functional.relu(GlobalPre(c).unsqueeze(1) + _ug).matmul(_wgv);

        /// <summary>The concept part of the global network's first layer, G c + g₀ [N, H].</summary>
        Tensor GlobalPre(Tensor c) => c.matmul(_g.t()) + _g0;

        /// <summary>
        /// log p(c_k = 1 | c_−k, y) / p(c_k = 0 | c_−k, y) = E_global(c with c_k = 0, y) − E_global(c with c_k = 1, y)
        /// for every concept [N, K], each with the other concepts of its row held: concepts c [N, K], classes y [N].
        /// </summary>
        public Tensor ConditionalLogOdds(Tensor c, Tensor y)
        {
            // Only each row's own class: W_g [v(c) ; u_y] + b_g = G c + g₀ + W_g,u u_y, [N, 1, H].
            var pre = (GlobalPre(c) + _ug.index_select(0, y)).unsqueeze(1);
            var columns = _g.t().unsqueeze(0);                      // [1, K, H]
            var on = nn.functional.relu(pre + (1 - c).unsqueeze(2) * columns).matmul(_wgv);
            var off = nn.functional.relu(pre - c.unsqueeze(2) * columns).matmul(_wgv);
            return off - on;
        }
    }

    /// <summary>logit_y = −E(x, c, y) [N, C] for given concepts, with A and E_class of the input precomputed.</summary>
    static Tensor Scores(Nets n, EnergyHeadSpec s, Tensor a, Tensor classEnergy, Tensor c) =>
        -((float)s.LambdaConcept * n.ConceptEnergies(a, c).sum(1, keepdim: true) + (float)s.LambdaGlobal * n.GlobalEnergies(c) + classEnergy);

    /// <summary>Detached copies of the stored tensors that autograd may use (stored tensors may be inference tensors).</summary>
    static Nets Stored(IReadOnlyDictionary<string, Tensor> tensors) =>
        Nets.From(TensorNames.ToDictionary(name => name, name => tensors[name].detach().clone()));

    /// <summary>
    /// ĉ and logits −E(x, ĉ, ·) of standardized inputs x̃ [N, D]; concepts where <paramref name="mask"/> is
    /// true are held at <paramref name="values"/> ([N, K] each; null: none fixed) and the rest minimized.
    /// </summary>
    public static (Tensor Concepts, Tensor Logits) Minimize(IReadOnlyDictionary<string, Tensor> tensors, EnergyHeadSpec spec, Tensor xn, Tensor? mask, Tensor? values)
    {
        using var outer = NewDisposeScope();
        // Autograd is needed for the minimization even when the caller runs in inference mode.
        using var notInference = inference_mode(false);
        using var grad = enable_grad();
        var nets = Stored(tensors);
        long rows = xn.shape[0], chunk = Math.Max(1, ChunkElements / ((nets.Concepts + nets.Classes) * nets.Hidden));
        var concepts = new List<Tensor> { zeros(0, nets.Concepts, device: xn.device) };
        var logits = new List<Tensor> { zeros(0, nets.Classes, device: xn.device) };
        float lc = (float)spec.LambdaConcept, lg = (float)spec.LambdaGlobal, eta = (float)spec.StepSize;
        for (long at = 0; at < rows; at += chunk)
        {
            using var block = NewDisposeScope();
            long m = Math.Min(chunk, rows - at);
            var x = xn.narrow(0, at, m).detach().clone();
            var held = mask?.narrow(0, at, m).detach().clone();
            var heldValues = values?.narrow(0, at, m).detach().clone();
            Tensor a, classEnergy, s;
            using (no_grad())
            {
                var h = nets.Features(x);
                a = nets.ConceptInput(h);
                classEnergy = nets.ClassEnergies(h);
                s = nets.ConceptLogOdds(a);
            }
            Tensor Relaxed(Tensor free) => held is null ? free.sigmoid() : where(held, heldValues!, free.sigmoid());
            // Nothing to minimize when every concept of the block is held.
            int steps = held is not null && held.all().item<bool>() ? 0 : spec.Steps;
            for (int i = 0; i < steps; i++)
            {
                using var iteration = NewDisposeScope();
                var free = s.detach().requires_grad_(true);
                var c = Relaxed(free);
                // F(x, c) = λ_c E_concept(x, c) − log Σ_y exp(−λ_g E_global(c, y) − E_class(x, y)), summed over rows (independent).
                var f = lc * nets.ConceptEnergies(a, c).sum() - (-lg * nets.GlobalEnergies(c) - classEnergy).logsumexp(1).sum();
                var g = autograd.grad([f], [free])[0];
                using (no_grad())
                {
                    // Keep one iterate alive at a time (steps × rows × K would pile up in the block's scope).
                    var next = (free.detach() - eta * g).MoveToOuterDisposeScope();
                    s.Dispose();
                    s = next;
                }
            }
            using (no_grad())
            {
                var c = Relaxed(s);
                logits.Add(Scores(nets, spec, a, classEnergy, c).MoveToOuterDisposeScope());
                concepts.Add(c.MoveToOuterDisposeScope());
            }
        }
        return (cat(concepts, 0).detach().MoveToOuterDisposeScope(), cat(logits, 0).detach().MoveToOuterDisposeScope());
    }

    /// <summary>
    /// logit_y = −E(x, c, y) [N, C] for concepts c given in full (no minimization). Without inputs
    /// only the part that depends on both c and y is returned, −λ_g E_global(c, y): E_class(x, y) does
    /// not depend on c and λ_c E_concept(x, c) is the same for every class. Differentiable in c.
    /// </summary>
    public static Tensor Logits(IReadOnlyDictionary<string, Tensor> tensors, EnergyHeadSpec spec, Tensor c, Tensor? xn)
    {
        using var scope = NewDisposeScope();
        var nets = Nets.From(tensors);
        if (xn is null) return (-(float)spec.LambdaGlobal * nets.GlobalEnergies(c)).MoveToOuterDisposeScope();
        var h = nets.Features(xn);
        return Scores(nets, spec, nets.ConceptInput(h), nets.ClassEnergies(h), c).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Per-concept ablations [N, C, K]: logit_y(x, c) − logit_y(x, c with c_k = 0), how much class y's
    /// score (its negative energy) drops when concept k is switched off and every other concept is
    /// held. Not additive: the logit minus their sum (interactions and the all-off energy) is reported
    /// as the bias.
    /// </summary>
    public static Tensor Ablations(IReadOnlyDictionary<string, Tensor> tensors, EnergyHeadSpec spec, Tensor c, Tensor xn)
    {
        using var scope = NewDisposeScope();
        var nets = Nets.From(tensors);
        var h = nets.Features(xn);
        var a = nets.ConceptInput(h);
        var classEnergy = nets.ClassEnergies(h);
        var full = Scores(nets, spec, a, classEnergy, c);
        var parts = new List<Tensor>();
        for (long k = 0; k < nets.Concepts; k++)
        {
            var off = c.clone();
            off.select(1, k).zero_();
            parts.Add(full - Scores(nets, spec, a, classEnergy, off));
        }
        return stack(parts, 2).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Concept probabilities under the global energy's Boltzmann distribution p(c | y) ∝ exp(−E_global(c, y)),
    /// for every class [C, K]: p(c_k = 1 | y), or, with <paramref name="given"/> = j, p(c_k = 1 | c_j = 1, y).
    /// The sum over 2^K concept vectors is replaced by its mean-field approximation: independent
    /// Bernoulli(μ_k) per class at the fixed point μ_k = σ(E_global(μ with c_k = 0, y) − E_global(μ with c_k = 1, y))
    /// (damped parallel updates from μ = ½, a fixed number of iterations; c_j held at 1 when given).
    /// </summary>
    public static Tensor Conditionals(IReadOnlyDictionary<string, Tensor> tensors, int? given, int iterations = 200)
    {
        using var scope = NewDisposeScope();
        using var mode = no_grad();
        var nets = Nets.From(tensors);
        var device = tensors[N.EnergyGlobalW2].device;
        var y = arange(nets.Classes, device: device);
        var mu = full(nets.Classes, nets.Concepts, 0.5f, device: device);
        for (int i = 0; i < iterations; i++)
        {
            if (given is int j) mu.select(1, j).fill_(1f);
            mu = 0.5f * mu + 0.5f * nets.ConditionalLogOdds(mu, y).sigmoid();
        }
        if (given is int g) mu.select(1, g).fill_(1f);
        return mu.MoveToOuterDisposeScope();
    }

    /// <summary>Shape, finiteness and setting checks of a stored energy head (InvalidDataException when hostile).</summary>
    public static void Validate(IReadOnlyDictionary<string, Tensor> t, ConceptModelSpec spec, long d, long k, long c)
    {
        var s = spec.Energy ?? throw new InvalidDataException("an energy head needs the spec's 'energy' settings");
        if (!double.IsFinite(s.LambdaConcept) || s.LambdaConcept < 0 || s.LambdaConcept > EnergyHeadSpec.MaxLambda
            || !double.IsFinite(s.LambdaGlobal) || s.LambdaGlobal < 0 || s.LambdaGlobal > EnergyHeadSpec.MaxLambda)
            throw new InvalidDataException($"energy lambdas must be finite in [0, {EnergyHeadSpec.MaxLambda}]");
        if (s.Steps < 0 || s.Steps > EnergyHeadSpec.MaxSteps) throw new InvalidDataException($"energy steps must be in [0, {EnergyHeadSpec.MaxSteps}], got {s.Steps}");
        if (!double.IsFinite(s.StepSize) || s.StepSize <= 0 || s.StepSize > EnergyHeadSpec.MaxStepSize)
            throw new InvalidDataException($"energy step_size must be finite in (0, {EnergyHeadSpec.MaxStepSize}], got {s.StepSize}");
        if (spec.Edits.Count > 0) throw new InvalidDataException("an energy head has no edits");
        if (spec.HeadScale is not null) throw new InvalidDataException("an energy head has no head_scale");
        if (!t.TryGetValue(N.EnergyFeatureWeight, out var wf) || wf.dim() != 2)
            throw new InvalidDataException($"bottleneck tensor '{N.EnergyFeatureWeight}' is missing or not [H, D]");
        if (!t.TryGetValue(N.EnergyLabelEmbedding, out var u) || u.dim() != 2)
            throw new InvalidDataException($"bottleneck tensor '{N.EnergyLabelEmbedding}' is missing or not [C, E]");
        long h = wf.shape[0], e = u.shape[1];
        if (h < 1 || e < 1) throw new InvalidDataException("energy hidden width and embedding dim must be >= 1");
        var expected = new Dictionary<string, long[]>
        {
            [N.EnergyFeatureWeight] = [h, d], [N.EnergyFeatureBias] = [h],
            [N.EnergyConceptPositive] = [k, e], [N.EnergyConceptNegative] = [k, e],
            [N.EnergyLabelEmbedding] = [c, e],
            [N.EnergyConceptW1] = [h, h + e], [N.EnergyConceptB1] = [h], [N.EnergyConceptW2] = [h],
            [N.EnergyClassW1] = [h, h + e], [N.EnergyClassB1] = [h], [N.EnergyClassW2] = [h],
            [N.EnergyGlobalW1] = [h, k * e + e], [N.EnergyGlobalB1] = [h], [N.EnergyGlobalW2] = [h],
        };
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        foreach (var (name, shape) in expected)
        {
            if (!t.TryGetValue(name, out var x)) throw new InvalidDataException($"bottleneck tensor '{name}' is missing");
            if (!x.shape.SequenceEqual(shape)) throw new InvalidDataException($"bottleneck tensor '{name}' is [{string.Join(", ", x.shape)}], expected [{string.Join(", ", shape)}]");
            if (!x.isfinite().all().item<bool>()) throw new InvalidDataException($"bottleneck tensor '{name}' has non-finite values");
        }
        foreach (var name in t.Keys)
            if (name is not (N.InputMean or N.InputScale) && !expected.ContainsKey(name))
                throw new InvalidDataException($"an energy head has no '{name}'");
    }

    /// <summary>Tensor names an energy head stores besides the input normalization.</summary>
    public static readonly IReadOnlyList<string> TensorNames =
    [
        N.EnergyFeatureWeight, N.EnergyFeatureBias,
        N.EnergyConceptPositive, N.EnergyConceptNegative, N.EnergyLabelEmbedding,
        N.EnergyConceptW1, N.EnergyConceptB1, N.EnergyConceptW2,
        N.EnergyClassW1, N.EnergyClassB1, N.EnergyClassW2,
        N.EnergyGlobalW1, N.EnergyGlobalB1, N.EnergyGlobalW2,
    ];
}
