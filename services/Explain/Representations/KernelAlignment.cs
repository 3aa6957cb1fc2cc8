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
    /// <summary>Linear kernel K = XXᵀ.</summary>
    public static Tensor LinearGram(Tensor x) => x.matmul(x.t());

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

    /// <summary>Unbiased HSIC estimator of Song et al. 2012 (can be negative).</summary>
    public static double UnbiasedHsic(Tensor k, Tensor l)
    {
        long n = k.shape[0];
        return (CenterGram(k, true) * CenterGram(l, true)).sum().item<double>() / (n * (n - 3.0));
    }

    /// <summary>Biased HSIC, tr(KHLH)/(n−1)² (never negative for PSD kernels).</summary>
    public static double BiasedHsic(Tensor k, Tensor l)
    {
        long n = k.shape[0];
        return (CenterGram(k, false) * CenterGram(l, false)).sum().item<double>() / ((n - 1.0) * (n - 1.0));
    }
}
