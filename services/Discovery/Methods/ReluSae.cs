using ConceptSuite.Core.Methods;
using ConceptSuite.Discovery.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Discovery.Methods;

/// <summary>
/// ReLU sparse autoencoder with an L1 penalty (Bricken et al. 2023, "Towards Monosemanticity";
/// Cunningham et al. 2023): z = ReLU(pre), loss = ||x̃ − x̂||²/D + λ·E_batch Σ_i |z_i|·||W_dec,i||
/// (the atom norms are 1, so the penalty is the L1 of z).
/// </summary>
public sealed class ReluSae(int concepts, ReluSaeOptions options) : SparseAutoencoder(concepts, options.Common)
{
    readonly ReluSaeOptions _v = options;

    public override string Method => "relu_sae";

    protected override Tensor Activate(Tensor pre, bool training) => pre.relu();

    protected override Tensor? Penalty(Tensor pre, Tensor z) => _v.L1 * z.abs().sum(1).mean();
}

/// <summary>Options of <see cref="ReluSae"/>: its own, then every sparse autoencoder's.</summary>
public sealed record ReluSaeOptions(double L1, SparseAutoencoderOptions Common)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Float("l1", 1e-3, "λ, the L1 coefficient", 0, 1e6),
        .. SparseAutoencoderOptions.Schema,
    ];

    public static ReluSaeOptions From(OptionValues o) => new(o.Float("l1"), SparseAutoencoderOptions.From(o));
}
