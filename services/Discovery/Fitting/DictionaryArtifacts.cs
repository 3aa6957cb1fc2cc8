using System.Text.Json;
using System.Text.Json.Serialization;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Discovery.Abstractions;
using ConceptSuite.Discovery.Methods;
using TorchSharp;

namespace ConceptSuite.Discovery.Fitting;

/// <summary>
/// Stores several dictionaries as one artifact: tensors "{name}/{state key}", metadata
/// <see cref="DictionaryArtifactMeta"/> (hashed into the id: nothing in it may vary between runs);
/// timings go to the run record. Loading rebuilds each through the registry.
/// </summary>
public static class DictionaryArtifacts
{
    public const string Kind = "dictionary";

    public static async Task<ArtifactInfo> SaveAsync(ArtifactStore store, IReadOnlyList<(DictionaryMeta Meta, IConceptDictionary Dictionary)> items,
        string activations, string tensor, CancellationToken ct, string runJson = "", string pairedActivations = "")
    {
        var meta = new DictionaryArtifactMeta { Activations = activations, Tensor = tensor, PairedActivations = pairedActivations is "" ? null : pairedActivations };
        var tensors = new Dictionary<string, torch.Tensor>();
        try
        {
            foreach (var (m, d) in items)
            {
                meta.Dictionaries.Add(m);
                foreach (var (k, v) in d.SaveState()) tensors[$"{m.Name}/{k}"] = v;
            }
            var labels = new Dictionary<string, string>
            {
                ["stage"] = "discovery",
                ["methods"] = string.Join(",", items.Select(i => i.Meta.Method).Distinct()),
            };
            return await store.PutAsync(Kind, tensors, JsonSerializer.Serialize(meta), labels, ct, runJson);
        }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
    }

    /// <summary>Reads the metadata; InvalidInputException when the artifact is not a dictionary.</summary>
    public static DictionaryArtifactMeta ReadMeta(ArtifactInfo info, string field)
    {
        if (info.Ref.Kind != Kind) throw new InvalidInputException(field, $"artifact {info.Ref.Id} is a '{info.Ref.Kind}', not a '{Kind}'");
        return JsonSerializer.Deserialize<DictionaryArtifactMeta>(info.MetadataJson)
            ?? throw new InvalidInputException(field, "dictionary metadata is empty");
    }

    /// <summary>Loads one dictionary (by name; the only one when the name is empty).</summary>
    public static (DictionaryMeta Meta, IConceptDictionary Dictionary) Load(ArtifactStore store, DictionaryRef? reference, string field)
    {
        if (reference?.Artifact is null) throw new InvalidInputException(field + ".artifact", "is required");
        using var reader = store.Open(reference.Artifact.Id, field + ".artifact.id");
        var meta = ReadMeta(reader.Info, field + ".artifact");
        DictionaryMeta m;
        if (string.IsNullOrEmpty(reference.Name))
        {
            if (meta.Dictionaries.Count != 1)
                throw new InvalidInputException(field + ".name", $"the artifact holds {meta.Dictionaries.Count} dictionaries ({string.Join(", ", meta.Dictionaries.Select(d => d.Name))}); name one");
            m = meta.Dictionaries[0];
        }
        else
        {
            m = meta.Dictionaries.FirstOrDefault(d => d.Name == reference.Name)
                ?? throw new NotFoundException($"dictionary in artifact {reference.Artifact.Id}", reference.Name);
        }
        var dict = DictionaryMethods.Create(m.Method, m.Concepts, m.Options, field);
        var prefix = m.Name + "/";
        var state = new Dictionary<string, torch.Tensor>();
        try
        {
            foreach (var name in reader.Entries.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)))
                state[name[prefix.Length..]] = reader.Read(name);
            dict.LoadState(state);
        }
        catch { dict.Dispose(); throw; }
        finally { foreach (var t in state.Values) t.Dispose(); }
        return (m, dict);
    }
}
