using System.Text.Json.Serialization;

namespace ConceptSuite.Discovery.Fitting;

/// <summary>The metadata JSON of a "dictionary" artifact.</summary>
public sealed record DictionaryArtifactMeta
{
    [JsonPropertyName("dictionaries")] public List<DictionaryMeta> Dictionaries { get; init; } = new();
    /// <summary>The activation artifact the dictionaries were fitted on.</summary>
    [JsonPropertyName("activations")] public string Activations { get; init; } = "";
    [JsonPropertyName("tensor")] public string Tensor { get; init; } = "";
}
