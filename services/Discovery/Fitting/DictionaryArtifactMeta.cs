using System.Text.Json.Serialization;

namespace ConceptSuite.Discovery.Fitting;

/// <summary>The metadata JSON of a "dictionary" artifact.</summary>
public sealed record DictionaryArtifactMeta
{
    [JsonPropertyName("dictionaries")] public List<DictionaryMeta> Dictionaries { get; init; } = new();
    /// <summary>The activation artifact the dictionaries were fitted on.</summary>
    [JsonPropertyName("activations")] public string Activations { get; init; } = "";
    [JsonPropertyName("tensor")] public string Tensor { get; init; } = "";
    /// <summary>The paired activation artifact of paired methods (CoCCA, SCoCCA); omitted when empty, so other artifacts keep their ids.</summary>
    [JsonPropertyName("paired_activations")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? PairedActivations { get; init; }
}
