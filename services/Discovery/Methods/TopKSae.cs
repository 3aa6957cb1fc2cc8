using ConceptSuite.Core.Methods;
using ConceptSuite.Discovery.Abstractions;
using ConceptSuite.Discovery.Numerics;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Discovery.Methods;

/// <summary>
/// TopK sparse autoencoder (Makhzani &amp; Frey 2013; Gao et al. 2024, "Scaling and evaluating
/// sparse autoencoders"): z = ReLU(TopK_k(pre)) keeps each sample's k largest pre-activations,
/// so L0 ≤ k by construction and no sparsity penalty is needed.
/// </summary>
public sealed class TopKSae(int concepts, TopKSaeOptions options) : SparseAutoencoder(concepts, options.Common)
{
    readonly TopKSaeOptions _v = options;

    public override string Method => "topk_sae";

    protected override Tensor Activate(Tensor pre, bool training) => Select(pre, _v.K);

    protected override (Tensor Z, Tensor Decoded) ActivateAndDecode(Tensor pre, Tensor dec)
    {
        var (vals, idx) = pre.topk(_v.K, dim: 1);
        var v = vals.relu();
        return (zeros_like(pre).scatter(1, idx, v), DecodeActive(v, idx, dec));
    }

    protected override bool SelectsActive => true;

    /// <summary>Each row's k largest pre-activations are its active latents (selected by the C# kernel; the sparse path runs on the CPU only).</summary>
    protected override ActiveLatents? SelectActive(Tensor pre)
    {
        var (vals, idx) = SparseRows.TopK(pre, _v.K);
        return new ActiveLatents(vals.relu(), idx);
    }

    /// <summary>ReLU of each row's k largest entries, zeros elsewhere.</summary>
    public static Tensor Select(Tensor pre, int k)
    {
        var (vals, idx) = pre.topk(k, dim: 1);
        return zeros_like(pre).scatter(1, idx, vals.relu());
    }
}

/// <summary>Options of <see cref="TopKSae"/>: its own, then every sparse autoencoder's.</summary>
public sealed record TopKSaeOptions(int K, SparseAutoencoderOptions Common)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Int("k", 32, "active latents per sample", 1, null, maxOf: DictionaryMethods.NConcepts),
        .. SparseAutoencoderOptions.Schema,
    ];

    public static TopKSaeOptions From(OptionValues o) => new(o.Int("k"), SparseAutoencoderOptions.From(o));
}
