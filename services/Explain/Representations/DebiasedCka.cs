using TorchSharp;

namespace ConceptSuite.Explain.Representations;

/// <summary>
/// Debiased linear CKA: CKA with the unbiased HSIC estimator of Song et al. 2012 in place of the
/// biased one (the "debiased" option of Kornblith et al.'s notebook; used by Nguyen et al. 2021):
/// HSIC₁(K, L) = [tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1/((n−1)(n−2)) − 2/(n−2)·1ᵀK̃L̃1] / (n(n−3)), K̃ = K with zero
/// diagonal. Needs n ≥ 4. Can be slightly negative for unrelated representations. The three
/// HSIC₁ terms are computed in feature space (<see cref="KernelAlignment.LinearUnbiasedInner"/>),
/// never forming the n × n Grams.
/// </summary>
public sealed class DebiasedCka : IRepresentationSimilarity
{
    public int MinSamples => 4;

    public double Score(torch.Tensor a, torch.Tensor b)
    {
        using var scope = torch.NewDisposeScope();
        var (x, y) = ExplainTensors.Pair(a, b, MinSamples);
        double xy = KernelAlignment.LinearUnbiasedInner(x, y);
        double den = Math.Sqrt(Math.Max(0, KernelAlignment.LinearUnbiasedInner(x, x))) * Math.Sqrt(Math.Max(0, KernelAlignment.LinearUnbiasedInner(y, y)));
        return den > 0 ? xy / den : 0.0;
    }
}
