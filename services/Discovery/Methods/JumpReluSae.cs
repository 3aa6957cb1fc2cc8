using ConceptSuite.Core.Methods;
using ConceptSuite.Discovery.Abstractions;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ConceptSuite.Discovery.Methods;

/// <summary>
/// JumpReLU sparse autoencoder (Rajamanoharan et al. 2024): z = pre · H(pre − θ) with a learned
/// per-latent threshold θ = exp(log θ), and an L0 penalty λ·E Σ_i H(pre_i − θ_i). H has no useful
/// gradient, so θ learns through the straight-through estimator with a rectangle kernel of
/// bandwidth ε: ∂z/∂θ = −(θ/ε)·K((pre − θ)/ε) and ∂H/∂θ = −(1/ε)·K((pre − θ)/ε), written with
/// detached surrogates (value of the forward pass, gradient of the pseudo-derivative).
/// </summary>
public sealed class JumpReluSae(int concepts, JumpReluSaeOptions options) : SparseAutoencoder(concepts, options.Common)
{
    readonly JumpReluSaeOptions _v = options;

    Parameter? _logTheta;

    public override string Method => "jumprelu_sae";

    protected override void InitExtra(Tensor normalizedSample, Generator g) =>
        _logTheta = new Parameter(full(Concepts, (float)Math.Log(_v.ThresholdInit)));

    protected override IEnumerable<Parameter> TrainedParameters() => [.. base.TrainedParameters(), _logTheta!];

    /// <summary>Rectangle kernel K(u) = 1[|u| &lt; ½] at u = (pre − θ)/ε, detached.</summary>
    Tensor Kernel(Tensor pre, Tensor theta, double eps) => (((pre - theta) / eps).abs() < 0.5).to_type(ScalarType.Float32).detach();

    protected override Tensor Activate(Tensor pre, bool training)
    {
        var theta = _logTheta!.exp();
        var gate = (pre > theta).to_type(ScalarType.Float32);
        if (!training) return pre * gate;
        double eps = _v.Bandwidth;
        var k = Kernel(pre, theta, eps);
        // value: pre·H; gradient w.r.t. pre through pre·H, w.r.t. θ: −(θ/ε)K.
        var sur = -(theta * theta.detach() / eps) * k;
        return pre * gate.detach() + (sur - sur.detach());
    }

    protected override Tensor? Penalty(Tensor pre, Tensor z)
    {
        var theta = _logTheta!.exp();
        double eps = _v.Bandwidth;
        var gate = (pre > theta).to_type(ScalarType.Float32).detach();
        var sur = -(theta / eps) * Kernel(pre, theta, eps);
        var l0 = gate + (sur - sur.detach());
        return _v.L0 * l0.sum(1).mean();
    }

    protected override Dictionary<string, Tensor> ExtraState()
    {
        using var _ = no_grad();
        return new() { ["log_threshold"] = _logTheta!.detach().clone() };
    }

    protected override void LoadExtraState(IReadOnlyDictionary<string, Tensor> state)
    {
        var t = state["log_threshold"].to_type(ScalarType.Float32).clone();
        if (_logTheta is null) _logTheta = new Parameter(t, requires_grad: false);
        else using (no_grad()) _logTheta.copy_(t);
    }

    public override void Dispose() { _logTheta?.Dispose(); base.Dispose(); }
}

/// <summary>Options of <see cref="JumpReluSae"/>: its own, then every sparse autoencoder's.</summary>
public sealed record JumpReluSaeOptions(double L0, double ThresholdInit, double Bandwidth, SparseAutoencoderOptions Common)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Float("l0", 1e-3, "λ, the L0 coefficient", 0, 1e6),
        OptionSpec.Float("threshold_init", 0.1, "initial θ (normalised units)", 1e-8, 1e6),
        OptionSpec.Float("bandwidth", 0.05, "ε, the STE kernel bandwidth", 1e-8, 1e6),
        .. SparseAutoencoderOptions.Schema,
    ];

    public static JumpReluSaeOptions From(OptionValues o) => new(o.Float("l0"), o.Float("threshold_init"), o.Float("bandwidth"), SparseAutoencoderOptions.From(o));
}
