using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Representations;

/// <summary>
/// Gram matrices and the centred kernel alignment between them, as in Kornblith et al. 2019,
/// "Similarity of Neural Network Representations Revisited" (ICML):
/// CKA(K, L) = HSIC(K, L) / √(HSIC(K, K) · HSIC(L, L)), with HSIC(K, L) ∝ ⟨HKH, HLH⟩_F and
/// H = I − 11ᵀ/n. The unbiased variant replaces HKH by the U-centred Gram (Székely and Rizzo
/// 2014), whose inner product is n(n−3) times the unbiased HSIC estimator of Song et al. 2012.
/// </summary>
public static class KernelAlignment
{
    /// <summary>
    /// RBF kernel K_ij = exp(−‖xᵢ − xⱼ‖² / (2σ²)) with σ² = fraction² · median_ij ‖xᵢ − xⱼ‖²
    /// (the median over all n² entries, diagonal included, as in the authors' notebook).
    /// </summary>
    public static Tensor RbfGram(Tensor x, double bandwidthFraction)
    {
        var dot = x.matmul(x.t());
        var sq = dot.diagonal();
        var d2 = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2 * dot).clamp_min(0);
        var median = ExplainTensors.Median(d2);
        if (median <= 0) return torch.ones_like(d2);
        return torch.exp(-d2 / (2 * bandwidthFraction * bandwidthFraction * median));
    }

    /// <summary>HKH (biased) or the U-centred Gram (unbiased; zero diagonal).</summary>
    public static Tensor CenterGram(Tensor k, bool unbiased)
    {
        long n = k.shape[0];
        if (!unbiased)
        {
            var rowMean = k.mean([0], keepdim: true);
            var colMean = k.mean([1], keepdim: true);
            return k - rowMean - colMean + k.mean();
        }
        var g = k - torch.diag(k.diagonal());
        var means = g.sum([0]) / (n - 2);
        means = means - means.sum() / (2.0 * (n - 1));
        g = g - means.unsqueeze(1) - means.unsqueeze(0);
        return g - torch.diag(g.diagonal());
    }

    /// <summary>CKA between two Gram matrices; 0 when either side has no variance.</summary>
    public static double Cka(Tensor k, Tensor l, bool unbiased)
    {
        var kc = CenterGram(k, unbiased);
        var lc = CenterGram(l, unbiased);
        var num = (kc * lc).sum().item<double>();
        var den = Math.Sqrt(Math.Max(0, (kc * kc).sum().item<double>())) * Math.Sqrt(Math.Max(0, (lc * lc).sum().item<double>()));
        return den > 0 ? num / den : 0.0;
    }

    /// <summary>
    /// ⟨K̃ᵤ, L̃ᵤ⟩ = n(n−3)·HSIC₁ for the linear kernels K = XXᵀ, L = YYᵀ, computed in feature space
    /// without the n × n Grams (cost n·D₁·D₂ instead of n²·(D₁ + D₂)). The U-centred Gram does not
    /// change when X is column-centred, and then K1 = 0, so with K̃ = K − diag(K), dₓ = diag(K):
    /// tr(K̃L̃) = ‖YᵀX‖²_F − dₓ·d_y, 1ᵀK̃1 = −Σdₓ, K̃1 = −dₓ, and Song et al.'s estimator
    /// tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1/((n−1)(n−2)) − 2/(n−2)·(K̃1)ᵀ(L̃1) becomes
    /// ‖YᵀX‖²_F − dₓ·d_y·n/(n−2) + Σdₓ·Σd_y/((n−1)(n−2)).
    /// </summary>
    public static double LinearUnbiasedInner(Tensor x, Tensor y)
    {
        using var scope = torch.NewDisposeScope();
        double n = x.shape[0];
        bool same = ReferenceEquals(x, y);
        var xc = x - x.mean([0], keepdim: true);
        var yc = same ? xc : y - y.mean([0], keepdim: true);
        double cross = yc.t().matmul(xc).square().sum().item<double>();
        var dx = xc.square().sum([1]);
        var dy = same ? dx : yc.square().sum([1]);
        return cross - dx.dot(dy).item<double>() * n / (n - 2) + dx.sum().item<double>() * dy.sum().item<double>() / ((n - 1) * (n - 2));
    }

    /// <summary>⟨HKH, HLH⟩ = ‖X̄ᵀȲ‖²_F for the linear kernels (X̄, Ȳ column-centred), in feature space.</summary>
    public static double LinearBiasedInner(Tensor x, Tensor y)
    {
        using var scope = torch.NewDisposeScope();
        var xc = x - x.mean([0], keepdim: true);
        var yc = ReferenceEquals(x, y) ? xc : y - y.mean([0], keepdim: true);
        return yc.t().matmul(xc).square().sum().item<double>();
    }
}
