using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Representations;

/// <summary>
/// Unit-to-unit Pearson correlations between two networks on the same inputs (Li, Yosinski, Clune,
/// Lipson and Hopcroft 2016, "Convergent Learning: Do different neural networks learn the same
/// representations?", §2): C_ij = E[(a_i − μ_i)(b_j − μ_j)] / (σ_i σ_j). A unit with zero variance
/// correlates 0 with everything (not NaN).
/// </summary>
public static class UnitCorrelation
{
    /// <summary>Correlation matrix [D₁, D₂] between the columns of A [N, D₁] and B [N, D₂].</summary>
    public static Tensor Compute(Tensor a, Tensor b)
    {
        var (x, y) = ExplainTensors.Pair(a, b, 2);
        return Standardize(x).t().matmul(Standardize(y)) / x.shape[0];
    }

    /// <summary>Columns as z-scores (population σ); constant columns become zeros.</summary>
    public static Tensor Standardize(Tensor x)
    {
        var c = ExplainTensors.Center(x);
        var sd = c.square().mean([0], keepdim: true).sqrt();
        return torch.where(sd > 0, c / sd.clamp_min(1e-300), torch.zeros_like(c));
    }
}
