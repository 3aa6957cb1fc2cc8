using System.Text.Json.Serialization;

namespace ConceptSuite.Embedding.Data;

/// <summary>Metadata JSON of a "dataset" artifact.</summary>
public sealed class DatasetMeta
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("class_names")] public List<string> ClassNames { get; set; } = new();
    [JsonPropertyName("concept_names")] public List<string>? ConceptNames { get; set; }
}
