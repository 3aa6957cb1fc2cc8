using ConceptSuite.Core.Methods;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Importance;

/// <summary>
/// Integrated gradients on the concept coefficients (Sundararajan, Taly and Yan 2017) from the
/// zero baseline (all concepts removed): φᵢ = uᵢ · ∫₀¹ ∂h(αu)_c/∂uᵢ dα, by the midpoint rule with
/// <see cref="Steps"/> points. Completeness: Σᵢ φᵢ = h(u)_c − h(0)_c (exact for linear heads).
/// </summary>
public sealed class IntegratedGradients(int steps = 32) : IConceptImportance
{
    public IntegratedGradients(IntegratedGradientsOptions options) : this(options.Steps) { }

    public int Steps { get; } = steps >= 1 ? steps : throw new Contracts.InvalidInputException("steps", $"must be at least 1, got {steps}");

    public Tensor Explain(IConceptHead head, Tensor coefficients, long[] targets)
    {
        using var scope = torch.NewDisposeScope();
        var u = ImportanceEstimators.Check(head, coefficients, targets);
        var total = torch.zeros_like(u);
        for (int s = 0; s < Steps; s++)
        {
            var alpha = (s + 0.5) / Steps;
            total += GradientInput.Gradients(head, alpha * u, targets);
        }
        return (u * total / Steps).MoveToOuterDisposeScope();
    }
}

/// <summary>Options of <see cref="IntegratedGradients"/>.</summary>
public sealed record IntegratedGradientsOptions(int Steps)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
        [OptionSpec.Int("steps", 32, "points on the path from the zero baseline (midpoint rule)", 1, 4096)];

    public static IntegratedGradientsOptions From(OptionValues o) => new(o.Int("steps"));
}
