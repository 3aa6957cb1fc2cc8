using ConceptSuite.Contracts;
using ConceptSuite.Core.Tensors;
using TorchSharp;

namespace ConceptSuite.Core.Artifacts;

/// <summary>
/// Safetensors files of torch tensors; the format itself (header, dtype names, entries) is
/// <see cref="SafetensorsFormat"/> in the contract library, which the .NET client reads files with too.
/// </summary>
public static class Safetensors
{
    /// <summary>Header bytes (length prefix + JSON padded with spaces to 8-byte alignment).</summary>
    public static byte[] Header(IEnumerable<(string Name, DType DType, long[] Shape, long Bytes)> tensors,
        IReadOnlyDictionary<string, string>? metadata = null) => SafetensorsFormat.Header(tensors, metadata);

    /// <summary>Reads the header: entries with absolute file offsets, and the metadata.</summary>
    public static (List<SafetensorsEntry> Entries, Dictionary<string, string> Metadata) ReadHeader(Stream s) => SafetensorsFormat.ReadHeader(s);

    /// <summary>Writes named tensors as one safetensors file (temp name, then rename: never half-written).</summary>
    public static void Save(string path, IReadOnlyDictionary<string, torch.Tensor> tensors)
    {
        var list = tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => (Name: kv.Key, T: TensorCodec.Contiguous(kv.Value))).ToList();
        var tmp = path + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            using (var f = new FileStream(tmp, FileMode.CreateNew))
            {
                f.Write(Header(list.Select(x => (x.Name, TensorCodec.ToDType(x.T.dtype), x.T.shape, x.T.numel() * x.T.element_size()))));
                foreach (var (_, t) in list) f.Write(t.bytes);
                f.Flush(true);
            }
            File.Move(tmp, path, true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>Reads every tensor of a safetensors file.</summary>
    public static Dictionary<string, torch.Tensor> Load(string path)
    {
        var result = new Dictionary<string, torch.Tensor>();
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read);
        foreach (var e in ReadHeader(f).Entries)
        {
            var buf = new byte[e.End - e.Begin];
            f.Position = e.Begin;
            f.ReadExactly(buf);
            result[e.Name] = TensorCodec.FromBytes(e.DType, e.Shape, buf);
        }
        return result;
    }
}
