using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace ConceptSuite.Generate.Model;

/// <summary>
/// Cross-attention from image features to text tokens (Rombach et al., 2022):
/// Attn(h, c) = softmax(Q Kᵀ/√d) V with Q = W_q·norm(h), K = W_k·c, V = W_v·c. W_k and W_v carry
/// no bias, so a token's key and value are linear in its embedding — the property closed-form
/// concept editing (UCE, RealEra) relies on.
/// </summary>
public sealed class CrossAttention : nn.Module
{
    readonly GroupNorm norm;
    readonly Linear to_q, to_k, to_v, to_out;
    readonly int _heads;

    public CrossAttention(string name, int channels, int textDim, int heads) : base(name)
    {
        _heads = heads;
        norm = GroupNorm(Math.Min(8, channels), channels);
        to_q = Linear(channels, channels, hasBias: false);
        to_k = Linear(textDim, channels, hasBias: false);
        to_v = Linear(textDim, channels, hasBias: false);
        to_out = Linear(channels, channels);
        RegisterComponents();
    }

    /// <summary>The key projection W_k [C, D] (edited in place by closed-form erasure).</summary>
    public Parameter KeyWeight => to_k.weight!;
    /// <summary>The value projection W_v [C, D].</summary>
    public Parameter ValueWeight => to_v.weight!;

    public Tensor Forward(Tensor h, Conditioning cond)
    {
        long b = h.shape[0], c = h.shape[1], hh = h.shape[2], ww = h.shape[3];
        var x = norm.forward(h).flatten(2).transpose(1, 2); // [B, HW, C]
        var q = to_q.forward(x);
        Tensor a;
        if (cond.RegionMasks is null) a = Attend(q, cond.Contexts[0]);
        else
        {
            // Masks resized to this resolution (area average keeps them a partition of unity).
            var m = nn.functional.adaptive_avg_pool2d(cond.RegionMasks.unsqueeze(0), [hh, ww]).squeeze(0).flatten(1); // [R, HW]
            a = zeros_like(q);
            for (int r = 0; r < cond.Contexts.Count; r++)
                a = a + m[r].unsqueeze(0).unsqueeze(-1) * Attend(q, cond.Contexts[r]);
        }
        var o = to_out.forward(a).transpose(1, 2).reshape(b, c, hh, ww);
        return h + o;
    }

    Tensor Attend(Tensor q, TextContext ctx)
    {
        long b = q.shape[0], n = q.shape[1], c = q.shape[2], t = ctx.Embeddings.shape[1];
        long dh = c / _heads;
        var e = ctx.Embeddings.shape[0] == b ? ctx.Embeddings : ctx.Embeddings.expand(b, t, -1);
        var mask = ctx.AttendMask.shape[0] == b ? ctx.AttendMask : ctx.AttendMask.expand(b, t);
        var k = to_k.forward(e).reshape(b, t, _heads, dh).transpose(1, 2);       // [B, h, T, dh]
        var v = to_v.forward(e).reshape(b, t, _heads, dh).transpose(1, 2);
        var qh = q.reshape(b, n, _heads, dh).transpose(1, 2);                      // [B, h, N, dh]
        var scores = qh.matmul(k.transpose(-1, -2)) / Math.Sqrt(dh);               // [B, h, N, T]
        scores = scores.masked_fill(mask.logical_not().unsqueeze(1).unsqueeze(1), float.NegativeInfinity);
        var p = scores.softmax(-1);
        return p.matmul(v).transpose(1, 2).reshape(b, n, c);
    }
}
