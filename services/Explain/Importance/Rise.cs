using ConceptSuite.Core.Limits;
using ConceptSuite.Core.Methods;
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
    public Rise(RiseOptions options) : this(options.Masks, options.KeepProbability, options.Seed) { CallBytes = options.CallBytes; }

    /// <summary>The per-call budget the masks are checked against (0: none).</summary>
    public long CallBytes { get; init; }

    public int MaskCount { get; } = masks >= 1 ? masks : throw new Contracts.InvalidInputException("masks", $"must be at least 1, got {masks}");
    public double KeepProbability { get; } = keepProbability > 0 && keepProbability < 1 ? keepProbability : throw new Contracts.InvalidInputException("keep_probability", "must be in (0, 1)");

    public Tensor Explain(IConceptHead head, Tensor coefficients, long[] targets)
    {
        using var scope = torch.NewDisposeScope();
        var u = ImportanceEstimators.Check(head, coefficients, targets);
        long n = u.shape[0], k = u.shape[1];
        // The masks [n_masks, K] in float64, with the masked coefficients and the head's input per sample: about three copies.
        RequestBudget.Within(CallBytes, "importance.options.masks", RequestBudget.Product(3, MaskCount, Math.Max(k, head.Classes), 8));
        var m = (torch.rand([MaskCount, k], ScalarType.Float64, generator: new torch.Generator((ulong)seed)) < KeepProbability).to_type(ScalarType.Float64);
        var result = torch.zeros([n, k], ScalarType.Float64);
        using (torch.inference_mode())
        {
            for (long s = 0; s < n; s++)
            {
                var f = ImportanceEstimators.TargetLogit(head, u[s].unsqueeze(0) * m, targets[s]);
                result[s] = f.matmul(m) / (MaskCount * KeepProbability);
            }
        }
        return result.MoveToOuterDisposeScope();
    }
}

/// <summary>Options of <see cref="Rise"/>; the seed is the request's.</summary>
public sealed record RiseOptions(int Masks, double KeepProbability, long Seed, long CallBytes = 0)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Int("masks", 512, "random concept masks", 1, 1 << 20),
        OptionSpec.Float("keep_probability", 0.5, "probability of keeping a concept in a mask, in (0, 1)", 0, 1),
    ];

    public static RiseOptions From(OptionValues o) => new(o.Int("masks"), o.Float("keep_probability"), RequestSeed.Of(o), RequestBudget.CallBytesOf(o));
}
