using ConceptSuite.Core.Methods;
using ConceptSuite.Core.Numerics;
using TorchSharp;

namespace ConceptSuite.Explain.Representations;

/// <summary>
/// SVCCA (Raghu et al. 2017, "SVCCA: Singular Vector Canonical Correlation Analysis for Deep
/// Learning Dynamics and Interpretability"): keep on each side the top singular directions that
/// explain <see cref="KeepVariance"/> of the variance (X' = U_k Σ_k), run CCA between the reduced
/// sides, and report the mean canonical correlation ρ̄ = (1/r) Σᵢ ρᵢ.
/// </summary>
public sealed class Svcca(double keepVariance = 0.99) : IRepresentationSimilarity
{
    public Svcca(SvccaOptions options) : this(options.KeepVariance) { }

    public double KeepVariance { get; } = keepVariance > 0 && keepVariance <= 1
        ? keepVariance
        : throw new Contracts.InvalidInputException("keep_variance", "must be in (0, 1]");

    public int MinSamples => 2;

    public double Score(torch.Tensor a, torch.Tensor b)
    {
        using var scope = torch.NewDisposeScope();
        var (x, y) = ExplainTensors.Pair(a, b, MinSamples);
        var (rho, _) = CanonicalCorrelation.Compute(Reduce(ExplainTensors.Center(x)), Reduce(ExplainTensors.Center(y)));
        return rho.mean().item<double>();
    }

    /// <summary>The top singular directions explaining the kept variance fraction, scaled by their singular values.</summary>
    public torch.Tensor Reduce(torch.Tensor xc)
    {
        var (u, s, _) = torch.linalg.svd(xc, fullMatrices: false);
        var energy = s.square();
        var total = energy.sum().item<double>();
        if (total <= 0) throw new Contracts.InvalidInputException("activations", "a side has no variance (all rows equal)");
        var cum = (energy.cumsum(0) / total).data<double>().ToArray();
        int k = 1;
        while (k < cum.Length && cum[k - 1] < KeepVariance - 1e-12) k++;
        return u.narrow(1, 0, k) * s.narrow(0, 0, k);
    }
}

/// <summary>Options of <see cref="Svcca"/>.</summary>
public sealed record SvccaOptions(double KeepVariance)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
        [OptionSpec.Float("keep_variance", 0.99, "variance fraction the kept singular directions explain on each side, in (0, 1]", 0, 1)];

    public static SvccaOptions From(OptionValues o) => new(o.Float("keep_variance"));
}
