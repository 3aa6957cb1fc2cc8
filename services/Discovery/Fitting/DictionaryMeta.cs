using System.Text.Json.Serialization;

namespace ConceptSuite.Discovery.Fitting;

/// <summary>What a "dictionary" artifact records about each dictionary it holds.</summary>
public sealed record DictionaryMeta
{
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("method")] public required string Method { get; init; }
    [JsonPropertyName("n_concepts")] public int Concepts { get; init; }
    [JsonPropertyName("input_dim")] public int InputDim { get; init; }
    [JsonPropertyName("seed")] public long Seed { get; init; }
    [JsonPropertyName("options")] public Dictionary<string, string> Options { get; init; } = new();
    [JsonPropertyName("metrics")] public Dictionary<string, double> Metrics { get; init; } = new();
}
