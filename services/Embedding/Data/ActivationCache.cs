using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Tensors;
using TorchSharp;

namespace ConceptSuite.Embedding.Data;

/// <summary>
/// Computed activations kept in the suite cache (.cache/activations/&lt;name&gt;.safetensors) so later
/// tests and stages can reuse them without recomputing. Writes are atomic (temp file + rename).
/// </summary>
public static class ActivationCache
{
    public static string Dir => Path.Combine(SuiteCache.Root, "activations");

    public static string PathOf(string name) => Path.Combine(Dir, name + ".safetensors");

    public static void Save(string name, IReadOnlyDictionary<string, torch.Tensor> tensors)
    {
        Directory.CreateDirectory(Dir);
        Safetensors.Save(PathOf(name), tensors);
    }

    /// <summary>The cached tensors, or null when absent.</summary>
    public static Dictionary<string, torch.Tensor>? TryLoad(string name) =>
        File.Exists(PathOf(name)) ? Safetensors.Load(PathOf(name)) : null;
}
