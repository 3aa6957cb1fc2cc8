using TorchSharp;

namespace ConceptSuite.Explain.Representations;

/// <summary>
/// A similarity index between two representations of the same N samples, A [N, D₁] and B [N, D₂]
/// (CKA family, CCA family). One entry point; hyper-parameters live in the constructor.
/// </summary>
public interface IRepresentationSimilarity
{
    /// <summary>Registry name ("linear_cka", "svcca", ...).</summary>
    string Name { get; }

    /// <summary>The fewest samples the estimator is defined for.</summary>
    int MinSamples { get; }

    /// <summary>The index; throws InvalidInputException (fields "a", "b") on bad input.</summary>
    double Score(torch.Tensor a, torch.Tensor b);
}

/// <summary>Hyper-parameters of the similarity indices (each reads the ones it needs).</summary>
public sealed record SimilarityOptions
{
    /// <summary>RBF bandwidth σ as a fraction of the median pairwise distance.</summary>
    public double RbfBandwidthFraction { get; init; } = 1.0;
    /// <summary>Minibatch size for the minibatch CKA estimator (≥ 4).</summary>
    public int BatchSize { get; init; } = 256;
    /// <summary>Seed of the row shuffle for minibatches.</summary>
    public long Seed { get; init; } = 0;
    /// <summary>SVCCA: fraction of variance the kept singular directions explain on each side.</summary>
    public double KeepVariance { get; init; } = 0.99;
}

/// <summary>The registry: a new index is one file and one line here.</summary>
public static class RepresentationSimilarities
{
    static readonly Dictionary<string, Func<SimilarityOptions, IRepresentationSimilarity>> Factories = new()
    {
        ["linear_cka"] = _ => new LinearCka(),
        ["rbf_cka"] = o => new RbfCka(o.RbfBandwidthFraction),
        ["debiased_cka"] = _ => new DebiasedCka(),
        ["minibatch_cka"] = o => new MinibatchCka(o.BatchSize, o.Seed),
        ["svcca"] = o => new Svcca(o.KeepVariance),
        ["pwcca"] = _ => new Pwcca(),
    };

    /// <summary>Known names, in a stable order.</summary>
    public static IReadOnlyList<string> Names => Factories.Keys.ToList();

    /// <summary>The index named <paramref name="name"/>; unknown names fail naming <paramref name="field"/>.</summary>
    public static IRepresentationSimilarity Create(string name, SimilarityOptions? options = null, string field = "methods")
    {
        if (!Factories.TryGetValue(name, out var f))
            throw new Contracts.InvalidInputException(field, $"unknown similarity '{name}'; known: {string.Join(", ", Factories.Keys)}");
        return f(options ?? new SimilarityOptions());
    }
}
