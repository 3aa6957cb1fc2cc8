using ConceptSuite.Core.Methods;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Generate.Editing;

/// <summary>
/// The closed-form projection edit of unified concept editing (Gandikota et al., 2024, "UCE")
/// used by RealEra (Liu et al., 2024): for a linear map W [out, in],
///   W' = (λ·W + s_e Σ_i v*_i c_iᵀ + s_p Σ_j W c_j c_jᵀ) (λ·I + s_e Σ_i c_i c_iᵀ + s_p Σ_j c_j c_jᵀ)⁻¹,
/// the minimiser of s_e Σ‖W' c_i − v*_i‖² + s_p Σ‖W' c_j − W c_j‖² + λ‖W' − W‖²_F.
/// Solved in float64 (A is symmetric positive definite for λ > 0).
/// </summary>
public static class ClosedFormEdit
{
    /// <param name="w">W [out, in].</param>
    /// <param name="eraseKeys">c_i as rows [n_e, in] (n_e may be 0).</param>
    /// <param name="targets">v*_i as rows [n_e, out].</param>
    /// <param name="preserveKeys">c_j as rows [n_p, in] (n_p may be 0).</param>
    public static Tensor Solve(Tensor w, Tensor eraseKeys, Tensor targets, Tensor preserveKeys, double lambda,
        double eraseScale = 1.0, double preserveScale = 1.0)
    {
        if (!(lambda > 0)) throw new Contracts.InvalidInputException("lambda", "must be > 0");
        if (eraseKeys.shape[0] != targets.shape[0]) throw new ArgumentException("one target per erased key");
        using var scope = NewDisposeScope();
        var W = w.to_type(ScalarType.Float64);
        long din = W.shape[1];
        var ce = eraseKeys.to_type(ScalarType.Float64).reshape(-1, din);
        var vt = targets.to_type(ScalarType.Float64).reshape(-1, W.shape[0]);
        var cp = preserveKeys.to_type(ScalarType.Float64).reshape(-1, din);
        // M = λW + s_e Vᵀ C_e + s_p (W C_pᵀ) C_p ;  A = λI + s_e C_eᵀ C_e + s_p C_pᵀ C_p
        var m = lambda * W + eraseScale * vt.t().matmul(ce) + preserveScale * W.matmul(cp.t()).matmul(cp);
        var a = lambda * eye(din, dtype: ScalarType.Float64, device: W.device) + eraseScale * ce.t().matmul(ce) + preserveScale * cp.t().matmul(cp);
        // W' = M A⁻¹  ⇔  A W'ᵀ = Mᵀ (A symmetric).
        var result = linalg.solve(a, m.t()).t().to_type(w.dtype);
        return result.MoveToOuterDisposeScope();
    }
}

/// <summary>The weights of the closed form: λ (the pull towards the old weights), s_e and s_p.</summary>
public sealed record ClosedFormOptions(double Lambda, double EraseScale, double PreserveScale)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Float("lambda", 0.1, "λ, the pull towards the old weights (> 0)", 0, 1e6),
        OptionSpec.Float("erase_scale", 1.0, "weight s_e of the erased keys (> 0)", 0, 1e6),
        OptionSpec.Float("preserve_scale", 1.0, "weight s_p of the preserved keys", 0, 1e6),
    ];

    /// <summary>The checked weights; λ and s_e must be strictly positive.</summary>
    public static ClosedFormOptions From(OptionValues o)
    {
        var r = new ClosedFormOptions(o.Float("lambda"), o.Float("erase_scale"), o.Float("preserve_scale"));
        if (!(r.Lambda > 0)) throw new Contracts.InvalidInputException("eraser.options.lambda", "must be in (0, 1e6]");
        if (!(r.EraseScale > 0)) throw new Contracts.InvalidInputException("eraser.options.erase_scale", "must be in (0, 1e6]");
        return r;
    }
}
