using ConceptSuite.Contracts;
using ConceptSuite.Discovery.Numerics;
using ConceptSuite.Core.Methods;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Discovery.Abstractions;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Discovery.Methods;

/// <summary>
/// What every sparse autoencoder shares (Bricken et al. 2023; Gao et al. 2024):
/// x̃ = (x − μ)/s (input normalisation, μ and s from a sample), pre = (x̃ − b_dec) W_enc + b_enc,
/// z = σ(pre) (the variant's sparsifying activation), x̂ = z W_dec + b_dec, trained with Adam on
/// ||x̃ − x̂||² / D + the variant's penalty. Decoder atoms (rows of W_dec) are kept at unit norm
/// (gradient component along each atom removed, then renormalised). Dead latents (no firing in
/// <c>dead_tokens</c> samples) are tracked and revived with the AuxK loss (Gao et al. 2024): the
/// top-k_aux dead latents reconstruct the residual e = x̃ − x̂, weighted by <c>aux_coef</c>.
/// On save the normalisation is folded into the weights — W_enc' = W_enc/s, W_dec' = s·W_dec,
/// b_dec' = s·b_dec + μ, b_enc' = b_enc — so a loaded model computes exactly what the trained one did.
/// </summary>
public abstract class SparseAutoencoder : IIncrementalDictionary
{
    protected readonly SparseAutoencoderOptions O;
    protected Parameter? WEnc, BEnc, WDec, BDec;
    protected Tensor? Mu;
    protected float Scale = 1;
    Tensor? _sinceFired;
    FusedAdam? _opt;

    protected SparseAutoencoder(int concepts, SparseAutoencoderOptions options) { Concepts = concepts; O = options; }

    public abstract string Method { get; }
    public int Concepts { get; }
    public int InputDim { get; private set; }
    public virtual bool NonNegativeCodes => true;
    public int Epochs => O.Epochs;
    public int BatchSize => O.BatchSize;
    public long Steps { get; private set; }

    public virtual void Validate(DataStats stats) { }

    /// <summary>σ(pre) → z ≥ 0 [b, C]. <paramref name="training"/> selects batch statistics vs stored ones.</summary>
    protected abstract Tensor Activate(Tensor pre, bool training);

    /// <summary>Training forward pass: the codes z [b, C] and z·W_dec [b, D]. Variants with k active
    /// latents per row override it to decode from the k gathered atoms (O(b·k·D) instead of the
    /// dense O(b·C·D) product and its two backward products).</summary>
    protected virtual (Tensor Z, Tensor Decoded) ActivateAndDecode(Tensor pre, Tensor dec)
    {
        var z = Activate(pre, training: true);
        return (z, z.matmul(dec));
    }

    /// <summary>z·W_dec from the k active latents of each row, values [b, k] at indices [b, k]:
    /// Σ_j v_j W_dec[i_j], a batched product with the gathered atoms [b, k, D].</summary>
    protected static Tensor DecodeActive(Tensor values, Tensor indices, Tensor dec)
    {
        long b = values.shape[0], k = values.shape[1];
        var atoms = dec.index_select(0, indices.reshape(-1)).view(b, k, dec.shape[1]);
        return values.unsqueeze(1).bmm(atoms).squeeze(1);
    }

    /// <summary>The variant's penalty on a batch (0 by default).</summary>
    protected virtual Tensor? Penalty(Tensor pre, Tensor z) => null;

    /// <summary>The parameters Adam trains.</summary>
    protected virtual IEnumerable<Parameter> TrainedParameters() => [WEnc!, BEnc!, WDec!, BDec!];

    /// <summary>Decoder weights [C, D] used in the forward pass (unit-norm rows).</summary>
    protected virtual Tensor DecoderWeights() => WDec!;

    /// <summary>After each optimiser step: renormalise atoms (variants may project their own parameters).</summary>
    protected virtual void AfterStep()
    {
        using var _ = no_grad();
        var w = WDec!;
        if (UnitRows.Fits(w)) UnitRows.Normalize(w);
        else w.div_(w.square().sum(1, keepdim: true).sqrt().clamp_min(1e-12f));
    }

    /// <summary>Before each optimiser step: remove the gradient component along each unit atom.</summary>
    protected virtual void BeforeStep()
    {
        using var _ = no_grad();
        if (WDec!.grad is not { } g) return;
        if (UnitRows.Fits(g) && UnitRows.Fits(WDec)) UnitRows.RemoveComponents(g, WDec);
        else g.sub_((g * WDec).sum(1, keepdim: true) * WDec);
    }

    /// <summary>Extra tensors of a variant's state (saved and loaded with the weights).</summary>
    protected virtual Dictionary<string, Tensor> ExtraState() => new();
    protected virtual void LoadExtraState(IReadOnlyDictionary<string, Tensor> state) { }
    /// <summary>Variant initialisation after the common parameters exist (sample is normalised).</summary>
    protected virtual void InitExtra(Tensor normalizedSample, Generator g) { }

    public void Begin(IRowSource data, FitContext ctx)
    {
        InputDim = data.Dim;
        int d = data.Dim;
        using var g = new Generator((ulong)ctx.Seed);
        using var sample = RowSources.Head(data, 8192, ctx.Seed);
        using (var _ = no_grad())
        {
            Mu?.Dispose();
            if (O.Normalize)
            {
                Mu = sample.mean([0]);
                // s² = E||x − μ||² / D, so normalised samples have unit mean squared entry.
                Scale = (float)Math.Sqrt(Math.Max((sample - Mu).square().sum(1).mean().item<float>() / d, 1e-12f));
            }
            else { Mu = zeros(d); Scale = 1; }
            var wdec = randn([Concepts, d], generator: g);
            wdec.div_(wdec.square().sum(1, keepdim: true).sqrt());
            // Tied initialisation W_enc = W_decᵀ (Gao et al. 2024); Parameter takes the handle, so clone first.
            WEnc = new Parameter(wdec.t().contiguous());
            WDec = new Parameter(wdec);
            BEnc = new Parameter(zeros(Concepts));
            BDec = new Parameter(zeros(d));
            using var xn = (sample - Mu) / Scale;
            InitExtra(xn, g);
        }
        _sinceFired = zeros(Concepts, ScalarType.Float64);
        _opt = new FusedAdam(TrainedParameters(), O.Lr);
        Steps = 0;
    }

    protected Tensor Normalize(Tensor x) => (x - Mu!) / Scale;

    protected Tensor PreActivation(Tensor xn) => (xn - BDec!).matmul(WEnc!) + BEnc!;

    /// <summary>When set, each step charges its phases' wall time and its temporaries to it.</summary>
    public StepProfile? Profile { get; set; }

    public double Step(Tensor batch)
    {
        var prof = Profile;
        prof?.Start();
        double loss;
        using (var scope = NewDisposeScope())
        {
            CheckBegun();
            loss = SparseGradients(batch) ?? Autograd(batch);
            prof?.Lap(SelectsActive ? "gradients (other)" : "gradients");
            BeforeStep();
            prof?.Lap("atom projection");
            _opt!.step();
            prof?.Lap("adam");
            AfterStep();
            prof?.Lap("atom renormalisation");
            prof?.EndStep(scope);
            prof?.Start();
        }
        prof?.Lap("release temporaries");
        Steps++;
        return loss;
    }

    /// <summary>
    /// Loss and gradients (W_enc, b_enc, W_dec, b_dec) of one batch by the variant's sparse path or by
    /// autograd, without an optimiser step; dead-latent tracking advances as in a step.
    /// </summary>
    internal (double Loss, Dictionary<string, Tensor> Gradients) LossAndGradients(Tensor batch, bool sparse)
    {
        using var scope = NewDisposeScope();
        CheckBegun();
        double loss = sparse ? SparseGradients(batch) ?? throw new InvalidOperationException($"{Method} has no sparse step here") : Autograd(batch);
        var grads = new Dictionary<string, Tensor>
        {
            ["W_enc"] = WEnc!.grad!.clone(), ["b_enc"] = BEnc!.grad!.clone(), ["W_dec"] = WDec!.grad!.clone(), ["b_dec"] = BDec!.grad!.clone(),
        };
        foreach (var g in grads.Values) g.MoveToOuterDisposeScope();
        return (loss, grads);
    }

    void CheckBegun()
    {
        if (_opt is null) throw new InvalidOperationException("Begin was not called");
    }

    /// <summary>Every gradient zeroed, then the loss and gradients of the normalised batch by autograd.</summary>
    double Autograd(Tensor batch)
    {
        _opt!.zero_grad();
        return AutogradStep(Normalize(batch));
    }

    /// <summary>The active latents of a batch for the sparse path: values [b, m] (ReLU'd, 0 in padding) at latents
    /// indices [b, m]; the ReLU passes gradient where a value is positive (never in padding).</summary>
    protected readonly record struct ActiveLatents(Tensor Values, Tensor Indices);

    /// <summary>Whether the variant's codes are a selection of a few latents per row (<see cref="SelectActive"/>).</summary>
    protected virtual bool SelectsActive => false;

    /// <summary>The selection of <paramref name="pre"/> [b, C] the variant's activation keeps; null when this batch's selection is too wide for the sparse path (autograd then runs).</summary>
    protected virtual ActiveLatents? SelectActive(Tensor pre) => null;

    /// <summary>
    /// The loss and every gradient of a step whose codes are a selection of at most m latents per row,
    /// computed by hand on the CPU (float32 weights; Core's SparseRows kernels read native storage);
    /// null when the variant selects nothing or the weights live elsewhere. Only the encoder product is
    /// dense. With x̃_c = x̃ − b_dec, pre = x̃_c W_enc + b_enc, the selection's values v [b, m] at latents
    /// I [b, m], r = zW_dec + b_dec − x̃ and g = 2r/(bD): ∂W_dec = Zᵀg and ∂z_ij = g_i·W_dec[I_ij] over
    /// the selected atoms only, ∂pre = ∂z·1[active] at I, ∂W_enc = x̃_cᵀ∂pre, ∂b_enc = Σ_i ∂pre_i,
    /// ∂b_dec = Σ_i g_i − W_enc ∂b_enc. ∂pre has m non-zeros per row, so the encoder gradient costs
    /// O(bmD) instead of a second dense O(bCD) product, and the dense decoder product and its two
    /// backward products are never formed. AuxK adds the same terms for the dead latents' selection
    /// against the residual. Sets the parameters' gradients and returns the loss;
    /// <see cref="AutogradStep"/> computes the same on the dense graph (a test holds them equal).
    /// </summary>
    double? SparseGradients(Tensor batch)
    {
        if (!SelectsActive || WDec is not { } wdec || wdec.device_type != DeviceType.CPU || wdec.dtype != ScalarType.Float32) return null;
        using var _ = no_grad();
        // x̃_c = (x − μ)/s − b_dec, one temporary; x̃ itself is never needed (r = zW_dec − x̃_c).
        var xc = batch.sub(Mu!).div_(Scale).sub_(BDec!);
        var prof = Profile;
        prof?.Lap("normalize");
        var pre = addmm(BEnc!, xc, WEnc!, beta: 1, alpha: 1);
        prof?.Lap("encoder GEMM");
        if (SelectActive(pre) is not { } selection) return null;
        prof?.Lap("topk");
        var (values, idx) = selection;
        long b = batch.shape[0], d = batch.shape[1];
        var (r, sumSquares) = SparseRows.Residual(values, idx, wdec, xc);
        double loss = sumSquares / (b * d);
        prof?.Lap("sparse decode + loss");

        var fired = zeros(Concepts, ScalarType.Bool).index_fill_(0, idx.masked_select(values > 0), true);
        var (dead, nDead) = TrackFiring(fired, b);
        int auxk = AuxK(nDead);
        // e = x̃ − x̂, the AuxK target, before r is scaled into g in place.
        var e = auxk > 0 ? r.neg() : null;
        var g = r.mul_(2f / (b * d));
        prof?.Lap("dead-latent tracking");
        var gradPre = SparseRows.Dots(g, idx, wdec, gate: values);
        // The gradients' storage is reused from step to step: every kernel below writes every entry.
        var gradDec = Reusable(wdec);
        SparseRows.ScatterRows(gradDec, values, idx, g);
        var gradBDec = g.sum(0, keepdim: false);
        prof?.Lap("decoder gradients (sparse)");
        if (e is not null)
        {
            // ê from the dead latents' selection; loss += c·||ê − e||²/||e||².
            var (va, ia) = SparseRows.TopK(pre.masked_fill_(dead.logical_not().unsqueeze(0), float.NegativeInfinity), auxk);
            var vaz = va.relu();
            var (diff, diffSquares) = SparseRows.Residual(vaz, ia, wdec, e);
            double coef = O.AuxCoef, energy = Math.Max(sumSquares, 1e-12);
            loss += coef * diffSquares / energy;
            var ga = diff.mul_((float)(2 * coef / energy));
            var gradAux = SparseRows.Dots(ga, ia, wdec, gate: vaz);
            SparseRows.ScatterAdd(gradDec, vaz, ia, ga);
            gradPre = cat([gradPre, gradAux], 1).contiguous();
            idx = cat([idx, ia], 1).contiguous();
            prof?.Lap("auxk");
        }

        // ∂W_enc [D, C] and ∂b_enc in one pass over the selected entries, written in W_enc's layout.
        var gradEnc = Reusable(WEnc!);
        var gradBEnc = Reusable(BEnc!);
        SparseRows.ScatterTransposed(gradEnc, gradPre, idx, xc, gradBEnc);
        prof?.Lap("encoder gradient (sparse)");
        gradBDec.sub_(WEnc!.mv(gradBEnc));
        WEnc.grad = gradEnc;
        prof?.Lap("bias gradients");
        wdec.grad = gradDec;
        BEnc!.grad = gradBEnc;
        BDec!.grad = gradBDec;
        return loss;
    }

    /// <summary>The parameter's gradient tensor when it is a contiguous float32 tensor of its shape (to be overwritten), else a new one.</summary>
    static Tensor Reusable(Parameter p) =>
        p.grad is { } g && g.dtype == ScalarType.Float32 && g.is_contiguous() && g.shape.SequenceEqual(p.shape) ? g : empty(p.shape);

    /// <summary>Loss (reconstruction, penalty, AuxK) and its gradients by autograd.</summary>
    protected double AutogradStep(Tensor xn)
    {
        var pre = PreActivation(xn);
        var dec = DecoderWeights();
        var (z, zdec) = ActivateAndDecode(pre, dec);
        var xhat = zdec + BDec!;
        var loss = nn.functional.mse_loss(xhat, xn);
        if (Penalty(pre, z) is { } p) loss = loss + p;
        Tensor dead;
        long nDead;
        using (no_grad()) (dead, nDead) = TrackFiring((z > 0).any(0, keepdim: false), xn.shape[0]);
        int auxk = AuxK(nDead);
        if (auxk > 0)
        {
            // AuxK: the top-k_aux dead latents (by pre-activation) reconstruct the residual.
            var e = (xn - xhat).detach();
            var masked = pre.masked_fill(dead.logical_not().unsqueeze(0), float.NegativeInfinity);
            var (vals, idx) = masked.topk(auxk, dim: 1);
            var zAux = zeros_like(pre).scatter(1, idx, vals.relu());
            var eHat = zAux.matmul(dec);
            var aux = (eHat - e).square().sum() / e.square().sum().clamp_min(1e-12f);
            loss = loss + O.AuxCoef * aux;
        }
        loss.backward();
        return loss.item<float>();
    }

    /// <summary>Records which latents fired in a batch of <paramref name="rows"/> samples; returns the dead mask [C] and its count.</summary>
    protected (Tensor Dead, long Count) TrackFiring(Tensor fired, long rows)
    {
        _sinceFired!.add_(rows).masked_fill_(fired, 0);
        var dead = _sinceFired > O.DeadTokens;
        return (dead, dead.sum().item<long>());
    }

    /// <summary>k of the AuxK loss this step (0: off, or no dead latent).</summary>
    protected int AuxK(long deadLatents) =>
        O.AuxK > 0 && deadLatents > 0 && O.AuxCoef > 0 ? (int)Math.Min(O.AuxK, deadLatents) : 0;

    public virtual void End() { }

    /// <summary>Count of latents dead now (no firing in the last dead_tokens samples).</summary>
    public long DeadLatents => _sinceFired is null ? 0 : (_sinceFired > O.DeadTokens).sum().item<long>();

    public void Fit(IRowSource data, FitContext ctx) => IncrementalTrainer.Train([this], data, ctx);

    public Tensor Encode(Tensor x)
    {
        if (WEnc is null) throw NotFitted();
        using var scope = NewDisposeScope();
        using var _ = inference_mode();
        return Activate(PreActivation(Normalize(x)), training: false).clone().MoveToOuterDisposeScope();
    }

    public Tensor Decode(Tensor codes)
    {
        if (WEnc is null) throw NotFitted();
        using var scope = NewDisposeScope();
        using var _ = inference_mode();
        return ((codes.matmul(DecoderWeights()) + BDec!) * Scale + Mu!).clone().MoveToOuterDisposeScope();
    }

    public Tensor Atoms()
    {
        using var _ = no_grad();
        return (DecoderWeights() * Scale).detach().clone();
    }

    public Dictionary<string, Tensor> SaveState()
    {
        if (WEnc is null) throw NotFitted();
        using var _ = no_grad();
        var state = new Dictionary<string, Tensor>
        {
            ["W_enc"] = (WEnc / Scale).detach().clone(),
            ["b_enc"] = BEnc!.detach().clone(),
            ["W_dec"] = (DecoderWeights() * Scale).detach().clone(),
            ["b_dec"] = (BDec! * Scale + Mu!).detach().clone(),
        };
        foreach (var (k, v) in ExtraState()) state[k] = v;
        return state;
    }

    public void LoadState(IReadOnlyDictionary<string, Tensor> state)
    {
        var wenc = state["W_enc"].to_type(ScalarType.Float32);
        InputDim = (int)wenc.shape[0];
        if (wenc.shape[1] != Concepts) throw new InvalidInputException("W_enc", $"has {wenc.shape[1]} latents, the options say {Concepts}");
        WEnc = new Parameter(wenc.clone(), requires_grad: false);
        BEnc = new Parameter(state["b_enc"].to_type(ScalarType.Float32).clone(), requires_grad: false);
        WDec = new Parameter(state["W_dec"].to_type(ScalarType.Float32).clone(), requires_grad: false);
        BDec = new Parameter(state["b_dec"].to_type(ScalarType.Float32).clone(), requires_grad: false);
        Mu?.Dispose();
        Mu = zeros(InputDim);
        Scale = 1;
        LoadExtraState(state);
    }

    public Dictionary<string, Tensor> TrainingState()
    {
        using var _ = no_grad();
        var s = new Dictionary<string, Tensor>
        {
            ["train.W_enc"] = WEnc!.detach().clone(), ["train.b_enc"] = BEnc!.detach().clone(),
            ["train.W_dec"] = WDec!.detach().clone(), ["train.b_dec"] = BDec!.detach().clone(),
            ["train.mu"] = Mu!.clone(), ["train.scale"] = tensor(new[] { Scale }),
            ["train.since_fired"] = _sinceFired!.clone(), ["train.steps"] = tensor(new[] { Steps }),
            // Adam's moments and step counts: without them a resumed fit restarts the bias correction and differs.
            ["train." + OptimizerCheckpoint.Key] = OptimizerCheckpoint.Save(_opt!),
        };
        foreach (var (k, v) in TrainingExtra()) s["train." + k] = v;
        return s;
    }

    /// <summary>Variant parameters for checkpoints (without the "train." prefix).</summary>
    protected virtual Dictionary<string, Tensor> TrainingExtra() => ExtraState();
    protected virtual void RestoreTrainingExtra(IReadOnlyDictionary<string, Tensor> s) => LoadExtraState(s);

    public void RestoreTrainingState(IReadOnlyDictionary<string, Tensor> state)
    {
        using var _ = no_grad();
        WEnc!.copy_(state["train.W_enc"]); BEnc!.copy_(state["train.b_enc"]);
        WDec!.copy_(state["train.W_dec"]); BDec!.copy_(state["train.b_dec"]);
        Mu!.copy_(state["train.mu"]);
        Scale = state["train.scale"].item<float>();
        _sinceFired!.copy_(state["train.since_fired"]);
        Steps = state["train.steps"].item<long>();
        RestoreTrainingExtra(state.Where(kv => kv.Key.StartsWith("train.", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key["train.".Length..], kv => kv.Value));
        // After the variant's parameters: the optimiser's moments are copied onto every trained parameter.
        if (!state.TryGetValue("train." + OptimizerCheckpoint.Key, out var opt))
            throw new InvalidDataException("the training state has no optimizer state (a checkpoint written before it had one)");
        OptimizerCheckpoint.Restore(_opt!, opt);
    }

    protected static InvalidOperationException NotFitted() => new("the dictionary is not fitted");

    public virtual void Dispose()
    {
        _opt?.Dispose();
        WEnc?.Dispose(); BEnc?.Dispose(); WDec?.Dispose(); BDec?.Dispose();
        Mu?.Dispose(); _sinceFired?.Dispose();
    }
}

/// <summary>Options every sparse autoencoder has.</summary>
public sealed record SparseAutoencoderOptions(int Epochs, int BatchSize, double Lr, bool Normalize, long DeadTokens, int AuxK, double AuxCoef)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Int("epochs", 10, "passes over the data", 1, 100000),
        OptionSpec.Int("batch_size", 1024, "samples per step", 1, 1 << 20),
        OptionSpec.Float("lr", 1e-3, "Adam learning rate", 1e-8, 10),
        OptionSpec.Bool("normalize", true, "centre and scale inputs (folded into the weights on save)"),
        OptionSpec.Int("dead_tokens", 100_000, "a latent is dead after this many samples without firing", 1, long.MaxValue),
        OptionSpec.Int("auxk", 256, "k of the AuxK loss on dead latents (0: off)", 0, 1 << 20),
        OptionSpec.Float("aux_coef", 1.0 / 32, "weight of the AuxK loss", 0, 100),
    ];

    public static SparseAutoencoderOptions From(OptionValues o) =>
        new(o.Int("epochs"), o.Int("batch_size"), o.Float("lr"), o.Bool("normalize"), o.Long("dead_tokens"), o.Int("auxk"), o.Float("aux_coef"));
}
