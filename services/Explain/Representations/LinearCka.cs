using TorchSharp;

namespace ConceptSuite.Explain.Representations;

/// <summary>
/// Linear CKA (Kornblith et al. 2019, eq. 5): with column-centred X and Y,
/// CKA = ‖YᵀX‖²_F / (‖XᵀX‖_F · ‖YᵀY‖_F). Computed in feature space (no n×n Gram).
/// Invariant to orthogonal transforms and isotropic scaling, not to invertible linear maps.
/// </summary>
public sealed class LinearCka : IRepresentationSimilarity
{
    public int MinSamples => 2;

    public double Score(torch.Tensor a, torch.Tensor b)
    {
        using var scope = torch.NewDisposeScope();
        var (x, y) = ExplainTensors.Pair(a, b, MinSamples);
        x = ExplainTensors.Center(x);
        y = ExplainTensors.Center(y);
        var cross = y.t().matmul(x).square().sum().item<double>();
        var nx = x.t().matmul(x).square().sum().sqrt().item<double>();
        var ny = y.t().matmul(y).square().sum().sqrt().item<double>();
        return nx > 0 && ny > 0 ? cross / (nx * ny) : 0.0;
    }
}
