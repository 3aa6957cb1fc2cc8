using ConceptSuite.Core.Methods;
using TorchSharp;

namespace ConceptSuite.Explain.Representations;

/// <summary>
/// CKA with Gaussian kernels (Kornblith et al. 2019, §3): K_ij = exp(−‖xᵢ−xⱼ‖²/(2σ²)),
/// σ = <see cref="BandwidthFraction"/> × the median pairwise distance of each side.
/// </summary>
public sealed class RbfCka(double bandwidthFraction = 1.0) : IRepresentationSimilarity
{
    public RbfCka(RbfCkaOptions options) : this(options.BandwidthFraction) { }

    public double BandwidthFraction { get; } = bandwidthFraction > 0 && double.IsFinite(bandwidthFraction)
        ? bandwidthFraction
        : throw new Contracts.InvalidInputException("bandwidth_fraction", "must be a positive finite number");

    public int MinSamples => 2;

    public double Score(torch.Tensor a, torch.Tensor b)
    {
        using var scope = torch.NewDisposeScope();
        var (x, y) = ExplainTensors.Pair(a, b, MinSamples);
        return KernelAlignment.Cka(KernelAlignment.RbfGram(x, BandwidthFraction), KernelAlignment.RbfGram(y, BandwidthFraction), unbiased: false);
    }
}

/// <summary>Options of <see cref="RbfCka"/>.</summary>
public sealed record RbfCkaOptions(double BandwidthFraction)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
        [OptionSpec.Float("bandwidth_fraction", 1.0, "RBF bandwidth σ as a fraction of the median pairwise distance (> 0)", 0, 1e6)];

    public static RbfCkaOptions From(OptionValues o) => new(o.Float("bandwidth_fraction"));
}
