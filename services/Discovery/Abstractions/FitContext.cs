namespace ConceptSuite.Discovery.Abstractions;

/// <summary>What a fit sees besides the data: seed, cancellation, progress, metrics and, for paired methods, the paired rows.</summary>
public sealed class FitContext
{
    public long Seed { get; init; }
    public CancellationToken CancellationToken { get; init; }
    /// <summary>(done, total, unit, phase).</summary>
    public Action<long, long, string, string>? Progress { get; init; }
    /// <summary>(step, named values).</summary>
    public Action<long, IReadOnlyDictionary<string, double>>? Metrics { get; init; }
    /// <summary>The paired modality's rows (same count and order as the data) for an <see cref="IPairedDictionary"/>; null otherwise.</summary>
    public IRowSource? Paired { get; init; }

    public static FitContext Default(long seed = 0) => new() { Seed = seed };
}
