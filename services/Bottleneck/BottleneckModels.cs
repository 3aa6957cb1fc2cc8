using System.Collections.Concurrent;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Concepts;
using static TorchSharp.torch;

namespace ConceptSuite.Bottleneck;

/// <summary>
/// Loaded bottleneck models by artifact id. Ids are content-derived, so a loaded model never
/// goes stale; the cache is bounded and simply forgets (the GC frees models no call still uses).
/// </summary>
public sealed class BottleneckModels(ArtifactStore store, Device device)
{
    const int Capacity = 32;
    readonly ConcurrentDictionary<string, ConceptModel> _cache = new();

    public ArtifactStore Store => store;
    public Device Device => device;

    /// <summary>The model <paramref name="reference"/> names (its id; errors name <c>{field}.id</c>).</summary>
    public ConceptModel Get(ArtifactRef? reference, string field) => Get(reference?.Id ?? "", field + ".id");

    /// <summary>The model; INVALID_ARGUMENT for a malformed id or a non-bottleneck artifact, NOT_FOUND when absent.</summary>
    public ConceptModel Get(string id, string field)
    {
        if (_cache.TryGetValue(id, out var m)) return m;
        var model = ConceptModel.Load(store, id, device, field);
        if (_cache.Count >= Capacity) _cache.Clear();
        return _cache.GetOrAdd(id, model);
    }
}
