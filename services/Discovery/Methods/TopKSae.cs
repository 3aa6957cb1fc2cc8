using ConceptSuite.Core.Numerics;
using ConceptSuite.Discovery.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Discovery.Methods;

/// <summary>
/// TopK sparse autoencoder (Makhzani &amp; Frey 2013; Gao et al. 2024, "Scaling and evaluating
/// sparse autoencoders"): z = ReLU(TopK_k(pre)) keeps each sample's k largest pre-activations,
/// so L0 ≤ k by construction and no sparsity penalty is needed.
/// </summary>
public sealed class TopKSae(MethodOptions options) : SparseAutoencoder(options)
{
    public static OptionSpec[] Schema =>
    [
        OptionSpec.Int("k", 32, "active latents per sample", 1, null, maxIsConcepts: true),
        .. CommonSchema,
    ];

    public override string Method => "topk_sae";

    protected override Tensor Activate(Tensor pre, bool training) => Select(pre, O.Int("k"));

    protected override (Tensor Z, Tensor Decoded) ActivateAndDecode(Tensor pre, Tensor dec)
    {
        var (vals, idx) = pre.topk(O.Int("k"), dim: 1);
        var v = vals.relu();
        return (zeros_like(pre).scatter(1, idx, v), DecodeActive(v, idx, dec));
    }

    /// <summary>
    /// The step's loss and gradients computed by hand on the CPU: only the encoder product is dense.
    /// With pre = (x̃ − b_dec)W_enc + b_enc, (v, I) = the k largest entries of each row, z = ReLU(v) at I,
    /// r = zW_dec + b_dec − x̃ and g = 2r/(bD), the gradients are ∂W_dec = Zᵀg and ∂z_ij = g_i·W_dec[I_ij]
    /// (both over the k selected atoms only), ∂pre = ∂z·1[v &gt; 0] at I, ∂W_enc = (x̃ − b_dec)ᵀ∂pre,
    /// ∂b_enc = Σ_i ∂pre_i and ∂b_dec = Σ_i g_i − W_enc ∂b_enc. The encoder gradient is sparse too
    /// (k entries per row), so it costs O(bkD) instead of a second dense O(bCD) product, and the dense
    /// decoder product and its two backward products are never formed. AuxK adds the same terms for
    /// the dead latents' selection against the residual. Autograd (the dense graph) runs elsewhere.
    /// </summary>
    protected override double? SparseStep(Tensor xn)
    {
        if (WDec!.device_type != DeviceType.CPU || WDec.dtype != ScalarType.Float32) return null;
        using var _ = no_grad();
        int k = O.Int("k");
        long b = xn.shape[0], d = xn.shape[1];
        var xc = (xn - BDec!).contiguous();
        var pre = addmm(BEnc!, xc, WEnc!, beta: 1, alpha: 1);
        var (vals, idx) = pre.topk(k, dim: 1, sorted: false);
        idx = idx.contiguous();
        var v = vals.relu().contiguous();
        var r = SparseRows.Combine(v, idx, WDec).add_(BDec!).sub_(xn);
        double loss = r.square().sum().item<float>() / (b * d);
        var g = r.mul(2f / (b * d));
        var gradPre = SparseRows.Dots(g, idx, WDec).mul_(vals > 0);
        var gradDec = zeros_like(WDec);
        SparseRows.ScatterAdd(gradDec, v, idx, g);
        var gradBDec = g.sum(0, keepdim: false);

        var fired = zeros(Concepts, ScalarType.Bool).index_fill_(0, idx.masked_select(vals > 0), true);
        var (dead, nDead) = TrackFiring(fired, b);
        int auxk = AuxK(nDead);
        if (auxk > 0)
        {
            // e = x̃ − x̂ (a constant), ê from the dead latents' selection; loss += c·||ê − e||²/||e||².
            var e = r.neg();
            var (va, ia) = pre.masked_fill(dead.logical_not().unsqueeze(0), float.NegativeInfinity).topk(auxk, dim: 1, sorted: false);
            ia = ia.contiguous();
            var vaz = va.relu().contiguous();
            var diff = SparseRows.Combine(vaz, ia, WDec).sub_(e);
            double coef = O.Float("aux_coef"), energy = Math.Max(e.square().sum().item<float>(), 1e-12);
            loss += coef * diff.square().sum().item<float>() / energy;
            var ga = diff.mul_((float)(2 * coef / energy));
            var gradAux = SparseRows.Dots(ga, ia, WDec).mul_(va > 0);
            SparseRows.ScatterAdd(gradDec, vaz, ia, ga);
            gradPre = cat([gradPre, gradAux], 1).contiguous();
            idx = cat([idx, ia], 1).contiguous();
        }

        var gradEncT = zeros(Concepts, d);
        SparseRows.ScatterAdd(gradEncT, gradPre, idx, xc);
        var gradBEnc = zeros(Concepts).index_add_(0, idx.reshape(-1), gradPre.reshape(-1), 1);
        gradBDec.sub_(WEnc!.mv(gradBEnc));
        WEnc.grad = gradEncT.t().contiguous();
        WDec.grad = gradDec;
        BEnc!.grad = gradBEnc;
        BDec!.grad = gradBDec;
        return loss;
    }

    /// <summary>ReLU of each row's k largest entries, zeros elsewhere.</summary>
    public static Tensor Select(Tensor pre, int k)
    {
        var (vals, idx) = pre.topk(k, dim: 1);
        return zeros_like(pre).scatter(1, idx, vals.relu());
    }
}
