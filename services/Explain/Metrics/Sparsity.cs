using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Metrics;

/// <summary>
/// Sparsity of concept codes or importances, per row then averaged:
/// L0 = |{i : |xᵢ| &gt; ε}|; Hoyer (2004) = (√n − ‖x‖₁/‖x‖₂) / (√n − 1) ∈ [0, 1], 1 for a one-hot row,
/// 0 for a constant one (rows of zeros count 0).
/// </summary>
public static class Sparsity
{
    public static double L0(Tensor x, double epsilon = 1e-8)
    {
        using var scope = torch.NewDisposeScope();
        var m = ExplainTensors.Matrix(x, "codes");
        return (m.abs() > epsilon).to_type(ScalarType.Float64).sum([1]).mean().item<double>();
    }

    public static double Hoyer(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var m = ExplainTensors.Matrix(x, "codes");
        long n = m.shape[1];
        if (n < 2) throw new Contracts.InvalidInputException("codes", "Hoyer sparsity needs at least 2 columns");
        var l1 = m.abs().sum([1]);
        var l2 = m.square().sum([1]).sqrt();
        var sq = Math.Sqrt(n);
        var h = torch.where(l2 > 0, (sq - l1 / l2.clamp_min(1e-300)) / (sq - 1), torch.zeros_like(l1));
        return h.mean().item<double>();
    }
}
