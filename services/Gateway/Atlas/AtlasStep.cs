namespace ConceptSuite.Gateway.Atlas;

/// <summary>One step of the atlas's step table: name, stage/method, state, whether reused, metrics, error.</summary>
public sealed record AtlasStep(string Name, string Call, string State, bool Reused, IReadOnlyDictionary<string, double> Metrics, string Error);
