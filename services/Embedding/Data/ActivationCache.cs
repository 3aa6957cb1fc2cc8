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
        var list = tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (kv.Key, T: TensorCodec.Contiguous(kv.Value))).ToList();
        var tmp = PathOf(name) + ".tmp-" + Guid.NewGuid().ToString("N");
        using (var f = new FileStream(tmp, FileMode.CreateNew))
        {
            f.Write(Safetensors.Header(list.Select(x => (x.Key, TensorCodec.ToDType(x.T.dtype), x.T.shape, x.T.numel() * x.T.element_size()))));
            foreach (var (_, t) in list) f.Write(t.bytes);
        }
        File.Move(tmp, PathOf(name), true);
    }

    /// <summary>The cached tensors, or null when absent.</summary>
    public static Dictionary<string, torch.Tensor>? TryLoad(string name)
    {
        var path = PathOf(name);
        if (!File.Exists(path)) return null;
        var result = new Dictionary<string, torch.Tensor>();
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read);
        var (entries, _) = Safetensors.ReadHeader(f);
        foreach (var e in entries)
        {
            var buf = new byte[e.End - e.Begin];
            f.Position = e.Begin;
            f.ReadExactly(buf);
            result[e.Name] = TensorCodec.FromBytes(e.DType, e.Shape, buf);
        }
        return result;
    }
}
