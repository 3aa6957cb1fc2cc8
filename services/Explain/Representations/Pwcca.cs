using ConceptSuite.Core.Numerics;
using TorchSharp;

namespace ConceptSuite.Explain.Representations;

/// <summary>
/// Projection-weighted CCA (Morcos, Raghu and Bengio 2018, "Insights on representational
/// similarity in neural networks with canonical correlation"): PWCCA = Σᵢ αᵢ ρᵢ / Σᵢ αᵢ with
/// αᵢ = Σⱼ |⟨hᵢ, xⱼ⟩|, hᵢ the i-th canonical variate of the first side and xⱼ its j-th (centred)
/// unit. Asymmetric: the first argument supplies the weights.
/// </summary>
public sealed class Pwcca : IRepresentationSimilarity
{
    public int MinSamples => 2;

    public double Score(torch.Tensor a, torch.Tensor b)
    {
        using var scope = torch.NewDisposeScope();
        var (x, y) = ExplainTensors.Pair(a, b, MinSamples);
        var xc = ExplainTensors.Center(x);
        var (rho, h) = CanonicalCorrelation.Compute(xc, ExplainTensors.Center(y));
        var alpha = h.t().matmul(xc).abs().sum([1]);
        return ((alpha * rho).sum() / alpha.sum()).item<double>();
    }
}
