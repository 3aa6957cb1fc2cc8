namespace ConceptSuite.Gateway.Atlas;

/// <summary>One row of the atlas's model table: a model (step) and its accuracy-like metrics.</summary>
public sealed record AtlasModelScore(string Model, IReadOnlyDictionary<string, double> Metrics);
