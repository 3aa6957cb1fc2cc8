using ConceptSuite.Discovery.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Discovery.Methods;

/// <summary>
/// BatchTopK sparse autoencoder (Bussmann, Leask &amp; Nanda 2024): in training the k·B largest
/// ReLU'd pre-activations of the whole batch are kept (the sparsity budget is shared across
/// samples); a running threshold θ ← m·θ + (1 − m)·min(kept values) is tracked, and inference
/// uses z = pre · 1[pre > θ] (so a sample's code does not depend on its batch). θ is stored
/// with the weights and kept across save/load.
/// </summary>
public sealed class BatchTopKSae(MethodOptions options) : SparseAutoencoder(options)
{
    public static OptionSpec[] Schema =>
    [
        OptionSpec.Int("k", 32, "mean active latents per sample", 1, null, maxIsConcepts: true),
        OptionSpec.Float("threshold_momentum", 0.99, "momentum of the running inference threshold", 0, 1),
        .. CommonSchema,
    ];

    double _threshold = -1;  // < 0: not estimated yet

    public override string Method => "batchtopk_sae";

    /// <summary>The inference threshold θ (−1 before any training step).</summary>
    public double Threshold { get => _threshold; set => _threshold = value; }

    protected override Tensor Activate(Tensor pre, bool training)
    {
        if (!training)
        {
            if (_threshold < 0) return TopKSae.Select(pre, O.Int("k"));
            return pre * (pre > _threshold);
        }
        var z = Select(pre, O.Int("k"));
        using (no_grad())
        {
            var kept = z.masked_select(z > 0);
            if (kept.numel() > 0)
            {
                double mn = kept.min().item<float>();
                double m = O.Float("threshold_momentum");
                _threshold = _threshold < 0 ? mn : m * _threshold + (1 - m) * mn;
            }
        }
        return z;
    }

    /// <summary>The k·B largest entries of ReLU(pre) over the whole batch [B, C], zeros elsewhere.</summary>
    public static Tensor Select(Tensor pre, int k)
    {
        var r = pre.relu();
        var flat = r.flatten();
        long keep = Math.Min(flat.numel(), (long)k * pre.shape[0]);
        var (vals, idx) = flat.topk((int)keep);
        return zeros_like(flat).scatter(0, idx, vals).view(pre.shape);
    }

    protected override Dictionary<string, Tensor> ExtraState() => new() { ["threshold"] = tensor(new[] { _threshold }) };

    protected override void LoadExtraState(IReadOnlyDictionary<string, Tensor> state)
    {
        if (state.TryGetValue("threshold", out var t)) _threshold = t.to_type(ScalarType.Float64).item<double>();
    }
}
