using ConceptSuite.Core.Numerics;
using TorchSharp;

namespace ConceptSuite.Explain.Metrics;

/// <summary>
/// Stability of a concept bank across seeds (as in Fel et al. 2023, §4 and the dictionary-learning
/// literature): the cosine similarities between the concepts V₁ [K₁, D] and V₂ [K₂, D] of two runs,
/// a one-to-one Hungarian matching that maximises the total cosine, and the mean matched cosine.
/// 1 means the same concepts up to order and scale.
/// </summary>
public static class SeedStability
{
    public sealed record Result(double MeanCosine, int[] Partner, double[] Cosine);

    public static Result Compute(torch.Tensor first, torch.Tensor second)
    {
        using var scope = torch.NewDisposeScope();
        var a = ExplainTensors.Matrix(first, "concepts_a");
        var b = ExplainTensors.Matrix(second, "concepts_b");
        if (a.shape[1] != b.shape[1]) throw new Contracts.InvalidInputException("concepts_b", $"has dimension {b.shape[1]}, concepts_a has {a.shape[1]}");
        var an = a / a.square().sum([1], keepdim: true).sqrt().clamp_min(1e-300);
        var bn = b / b.square().sum([1], keepdim: true).sqrt().clamp_min(1e-300);
        var cos = ExplainTensors.ToArray2D(an.matmul(bn.t()));
        var p = Hungarian.Maximize(cos);
        var c = p.Select((j, i) => j >= 0 ? cos[i, j] : 0).ToArray();
        var matched = c.Where((_, i) => p[i] >= 0).ToArray();
        return new Result(matched.Length > 0 ? matched.Average() : 0, p, c);
    }
}
