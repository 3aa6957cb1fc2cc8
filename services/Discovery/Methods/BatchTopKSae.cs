using ConceptSuite.Core.Methods;
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
public sealed class BatchTopKSae(int concepts, BatchTopKSaeOptions options) : SparseAutoencoder(concepts, options.Common)
{
    readonly BatchTopKSaeOptions _v = options;

    double _threshold = -1;  // < 0: not estimated yet

    public override string Method => "batchtopk_sae";

    /// <summary>The inference threshold θ (−1 before any training step).</summary>
    public double Threshold { get => _threshold; set => _threshold = value; }

    protected override Tensor Activate(Tensor pre, bool training)
    {
        if (!training)
        {
            if (_threshold < 0) return TopKSae.Select(pre, _v.K);
            return pre * (pre > _threshold);
        }
        var z = Select(pre, _v.K);
        using (no_grad()) TrackThreshold(z);
        return z;
    }

    /// <summary>θ ← m·θ + (1 − m)·min of the batch's kept positive values (the first batch sets θ).</summary>
    void TrackThreshold(Tensor kept)
    {
        var positive = kept.masked_select(kept > 0);
        if (positive.numel() == 0) return;
        double mn = positive.min().item<float>();
        double m = _v.ThresholdMomentum;
        _threshold = _threshold < 0 ? mn : m * _threshold + (1 - m) * mn;
    }

    protected override bool SelectsActive => true;

    /// <summary>
    /// The batch's k·B largest ReLU'd pre-activations are the active latents, a varying number per row:
    /// each row's selection is padded to the longest row's (padding has value 0 and no gradient). When
    /// one row holds more than a quarter of all latents, the padded products would cost about as much
    /// as the dense ones: null, and autograd runs instead. Tracks the threshold when it selects.
    /// </summary>
    protected override ActiveLatents? SelectActive(Tensor pre)
    {
        long b = pre.shape[0], c = pre.shape[1];
        var flat = pre.relu().flatten();
        long keep = Math.Min(flat.numel(), (long)_v.K * b);
        var (vals, idx) = flat.topk((int)keep, sorted: false);
        var rows = idx.div(c, rounding_mode: RoundingMode.floor);
        var counts = rows.bincount(null, b);
        long width = counts.max().item<long>();
        if (width * 4 > c) return null;
        TrackThreshold(vals);
        // Row-major padded layout: entry e of the selection goes to [row, its rank within the row].
        var order = rows.argsort();
        var sortedRows = rows.index_select(0, order);
        var starts = counts.cumsum(0) - counts;
        var slot = sortedRows * width + (arange(keep, ScalarType.Int64) - starts.index_select(0, sortedRows));
        var indices = zeros(b * width, ScalarType.Int64).scatter_(0, slot, idx.remainder(c).index_select(0, order)).view(b, width);
        var values = zeros(b * width, ScalarType.Float32).scatter_(0, slot, vals.index_select(0, order)).view(b, width);
        return new ActiveLatents(values, indices);
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

/// <summary>Options of <see cref="BatchTopKSae"/>: its own, then every sparse autoencoder's.</summary>
public sealed record BatchTopKSaeOptions(int K, double ThresholdMomentum, SparseAutoencoderOptions Common)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Int("k", 32, "mean active latents per sample", 1, null, maxOf: DictionaryMethods.NConcepts),
        OptionSpec.Float("threshold_momentum", 0.99, "momentum of the running inference threshold", 0, 1),
        .. SparseAutoencoderOptions.Schema,
    ];

    public static BatchTopKSaeOptions From(OptionValues o) => new(o.Int("k"), o.Float("threshold_momentum"), SparseAutoencoderOptions.From(o));
}
