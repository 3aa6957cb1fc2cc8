namespace ConceptSuite.Discovery.Abstractions;

/// <summary>Summary statistics of the data gathered before fitting (one pass or while spooling).</summary>
public sealed record DataStats(long Samples, int Dim, double Min, double Max, string Field);
