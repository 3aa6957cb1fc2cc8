namespace ConceptSuite.Explain.Metrics;

/// <summary>
/// The typed options of one fidelity or trust metric, parsed once from its schema
/// (<see cref="ExplanationMetrics"/>); <see cref="None"/> for a metric without options.
/// </summary>
public abstract record MetricOptions
{
    /// <summary>A metric without options.</summary>
    public static readonly MetricOptions None = new NoMetricOptions();

    sealed record NoMetricOptions : MetricOptions;
}
