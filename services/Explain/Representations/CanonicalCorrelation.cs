using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Representations;

/// <summary>
/// Canonical correlation analysis between column-centred X [N, D₁] and Y [N, D₂] (Hotelling 1936)
/// by orthonormal bases: with Q_X, Q_Y orthonormal bases of the column spaces (left singular
/// vectors above a relative rank tolerance) and Q_XᵀQ_Y = U Σ Vᵀ, the canonical correlations are
/// ρ = diag Σ and the canonical variates on the X side are H = Q_X U.
/// </summary>
public static class CanonicalCorrelation
{
    /// <summary>Relative singular-value cut-off below which a direction counts as rank-deficient.</summary>
    public const double RankTolerance = 1e-10;

    /// <summary>The canonical correlations (descending, min(rank X, rank Y) of them) and X-side variates [N, r].</summary>
    public static (Tensor Rho, Tensor VariatesX) Compute(Tensor xc, Tensor yc)
    {
        var qx = Basis(xc);
        var qy = Basis(yc);
        var (u, s, _) = torch.linalg.svd(qx.t().matmul(qy), fullMatrices: false);
        long r = Math.Min(qx.shape[1], qy.shape[1]);
        return (s.narrow(0, 0, r).clamp(0, 1), qx.matmul(u.narrow(1, 0, r)));
    }

    /// <summary>Orthonormal basis of the column space of <paramref name="x"/>.</summary>
    public static Tensor Basis(Tensor x)
    {
        var (u, s, _) = torch.linalg.svd(x, fullMatrices: false);
        var max = s.max().item<double>();
        long k = max > 0 ? (s > max * RankTolerance * Math.Max(x.shape[0], x.shape[1])).sum().item<long>() : 0;
        if (k == 0) throw new Contracts.InvalidInputException("activations", "a side has no variance (all rows equal)");
        return u.narrow(1, 0, k);
    }
}
