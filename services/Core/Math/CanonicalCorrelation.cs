using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Core.Numerics;

/// <summary>
/// Canonical correlation analysis between column-centred X [N, D₁] and Y [N, D₂] (Hotelling 1936),
/// the suite's one implementation (the representation similarities SVCCA/PWCCA and the concept
/// decompositions CoCCA/SCoCCA use it). Each side is whitened from its thin SVD X = U S Vᵀ (rank
/// above a relative tolerance): without ridge the whitened side is the orthonormal basis U; with a
/// ridge ε (relative to the mean variance) it is X (XᵀX + λI)^{-1/2} = U S (S² + λ)^{-1/2}, λ = ε·ΣS²/D₁,
/// i.e. the covariance is regularised to C + ε·tr(C)/D·I (Vinod 1976, canonical ridge), so
/// rank-deficient or N &lt; D inputs stay well posed. With the whitened sides H_X, H_Y and
/// H_XᵀH_Y = P Σ Qᵀ, the canonical correlations are ρ = diag Σ, and the projections
/// A = V (S² + λ)^{-1/2} P, B likewise, map a centred row to its canonical variates.
/// </summary>
public static class CanonicalCorrelation
{
    /// <summary>Relative singular-value cut-off below which a direction counts as rank-deficient.</summary>
    public const double RankTolerance = 1e-10;

    /// <summary>The canonical correlations (descending, min(rank X, rank Y) of them) and X-side variates [N, r] (orthonormal columns).</summary>
    public static (Tensor Rho, Tensor VariatesX) Compute(Tensor xc, Tensor yc)
    {
        var (hx, _) = Whiten(xc, 0, "activations");
        var (hy, _) = Whiten(yc, 0, "activations");
        var (p, s, _) = linalg.svd(hx.t().matmul(hy), fullMatrices: false);
        long r = Math.Min(hx.shape[1], hy.shape[1]);
        return (s.narrow(0, 0, r).clamp(0, 1), hx.matmul(p.narrow(1, 0, r)));
    }

    /// <summary>
    /// Ridge CCA keeping the top <paramref name="dims"/> pairs (fewer when the ranks are lower): the
    /// (regularised) canonical correlations ρ [r] and the projections A [D₁, r], B [D₂, r] that map
    /// centred rows to canonical variates of unit variance (when ridge is 0). Signs are fixed so that
    /// the largest-magnitude entry of each column of A is positive (same inputs, same outputs).
    /// </summary>
    public static (Tensor Rho, Tensor ProjectX, Tensor ProjectY) Fit(Tensor xc, Tensor yc, double ridge, int dims,
        string fieldX = "activations", string fieldY = "paired_activations")
    {
        if (xc.shape[0] != yc.shape[0]) throw new ArgumentException("X and Y differ in rows");
        if (dims < 1) throw new ArgumentOutOfRangeException(nameof(dims));
        var (hx, tx) = Whiten(xc, ridge, fieldX);
        var (hy, ty) = Whiten(yc, ridge, fieldY);
        var (p, s, qT) = linalg.svd(hx.t().matmul(hy), fullMatrices: false);
        long r = Math.Min(dims, Math.Min(hx.shape[1], hy.shape[1]));
        double scale = Math.Sqrt(Math.Max(1, xc.shape[0] - 1));
        var a = tx.matmul(p.narrow(1, 0, r)) * scale;
        var b = ty.matmul(qT.t().narrow(1, 0, r)) * scale;
        var sign = a.gather(0, a.abs().argmax(0, keepdim: true)).sign();
        sign = where(sign == 0, ones_like(sign), sign);
        return (s.narrow(0, 0, r).clamp(0, 1), a * sign, b * sign);
    }

    /// <summary>
    /// The whitened side H [N, k] and the map T [D, k] with xc·T = H: U (ridge 0) or U S (S² + λ)^{-1/2};
    /// INVALID_ARGUMENT naming <paramref name="field"/> when the side has no variance.
    /// </summary>
    public static (Tensor Whitened, Tensor Map) Whiten(Tensor xc, double ridge, string field)
    {
        var (u, s, vT) = linalg.svd(xc, fullMatrices: false);
        var max = s.max().item<double>();
        long k = max > 0 ? (s > max * RankTolerance * Math.Max(xc.shape[0], xc.shape[1])).sum().item<long>() : 0;
        if (k == 0) throw new Contracts.InvalidInputException(field, "a side has no variance (all rows equal)");
        var uk = u.narrow(1, 0, k);
        var sk = s.narrow(0, 0, k);
        var v = vT.narrow(0, 0, k).t();
        if (ridge <= 0) return (uk, v / sk);
        double lambda = ridge * s.square().sum().item<double>() / xc.shape[1];
        var inv = (sk.square() + lambda).rsqrt();
        return (uk * (sk * inv), v * inv);
    }
}
