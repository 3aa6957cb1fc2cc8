using System.Text.Json.Serialization;

namespace ConceptSuite.Embedding.Models;

/// <summary>Metadata of a "backbone" artifact (a trained built-in network).</summary>
public sealed class BackboneMeta
{
    [JsonPropertyName("architecture")] public string Architecture { get; set; } = "";
    [JsonPropertyName("channels")] public int Channels { get; set; }
    [JsonPropertyName("height")] public int Height { get; set; }
    [JsonPropertyName("width")] public int Width { get; set; }
    [JsonPropertyName("classes")] public int Classes { get; set; }
    [JsonPropertyName("class_names")] public List<string> ClassNames { get; set; } = new();
    [JsonPropertyName("dataset_id")] public string DatasetId { get; set; } = "";
    [JsonPropertyName("epochs")] public int Epochs { get; set; }
    [JsonPropertyName("seed")] public long Seed { get; set; }
}
