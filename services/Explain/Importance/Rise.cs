using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Importance;

/// <summary>
/// RISE on concepts (Petsiuk, Das and Saenko 2018, "RISE: Randomized Input Sampling for
/// Explanation of Black-box Models"): with random binary masks Mⱼ ~ Bernoulli(p)^K,
/// φᵢ = (1 / (n·p)) Σⱼ h(u ⊙ Mⱼ)_c · Mⱼᵢ, the expected score given that concept i is kept.
/// </summary>
public sealed class Rise(int masks = 512, double keepProbability = 0.5, long seed = 0) : IConceptImportance
{
    public int MaskCount { get; } = masks >= 1 ? masks : throw new Contracts.InvalidInputException("masks", $"must be at least 1, got {masks}");
    public double KeepProbability { get; } = keepProbability > 0 && keepProbability < 1 ? keepProbability : throw new Contracts.InvalidInputException("keep_probability", "must be in (0, 1)");
    public string Name => "rise";

    public Tensor Explain(IConceptHead head, Tensor coefficients, long[] targets)
    {
        using var scope = torch.NewDisposeScope();
        var u = ConceptImportances.Check(head, coefficients, targets);
        long n = u.shape[0], k = u.shape[1];
        var m = (torch.rand([MaskCount, k], ScalarType.Float64, generator: new torch.Generator((ulong)seed)) < KeepProbability).to_type(ScalarType.Float64);
        var result = torch.zeros([n, k], ScalarType.Float64);
        using (torch.inference_mode())
        {
            for (long s = 0; s < n; s++)
            {
                var f = ConceptImportances.TargetLogit(head, u[s].unsqueeze(0) * m, targets[s]);
                result[s] = f.matmul(m) / (MaskCount * KeepProbability);
            }
        }
        return result.MoveToOuterDisposeScope();
    }
}
