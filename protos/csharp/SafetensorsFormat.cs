using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ConceptSuite.Contracts;

/// <summary>Where one tensor lives inside a safetensors file.</summary>
public sealed record SafetensorsEntry(string Name, DType DType, long[] Shape, long Begin, long End)
{
    public long Rows => Shape.Length == 0 ? 1 : Shape[0];
    public long RowBytes => Rows == 0 ? 0 : (End - Begin) / Rows;
}

/// <summary>
/// The safetensors format (Hugging Face): 8-byte little-endian header length n, n bytes of JSON
/// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the data,
/// offsets relative to the data section. Loadable by any safetensors reader.
/// </summary>
public static class SafetensorsFormat
{
    public static string DTypeName(DType d) => d switch
    {
        DType.Float32 => "F32", DType.Float64 => "F64", DType.Float16 => "F16", DType.Bfloat16 => "BF16",
        DType.Int64 => "I64", DType.Int32 => "I32", DType.Uint8 => "U8", DType.Bool => "BOOL",
        _ => throw new ArgumentOutOfRangeException(nameof(d)),
    };

    public static DType ParseDType(string s) => s switch
    {
        "F32" => DType.Float32, "F64" => DType.Float64, "F16" => DType.Float16, "BF16" => DType.Bfloat16,
        "I64" => DType.Int64, "I32" => DType.Int32, "U8" => DType.Uint8, "BOOL" => DType.Bool,
        _ => throw new InvalidDataException($"safetensors dtype '{s}' is not supported"),
    };

    /// <summary>Header bytes (length prefix + JSON padded with spaces to 8-byte alignment).</summary>
    public static byte[] Header(IEnumerable<(string Name, DType DType, long[] Shape, long Bytes)> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var root = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var m = new JsonObject();
            foreach (var (k, v) in metadata) m[k] = v;
            root["__metadata__"] = m;
        }
        long offset = 0;
        foreach (var (name, dtype, shape, bytes) in tensors)
        {
            root[name] = new JsonObject
            {
                ["dtype"] = DTypeName(dtype),
                ["shape"] = new JsonArray(shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }
        var json = Encoding.UTF8.GetBytes(root.ToJsonString());
        int padded = (json.Length + 7) / 8 * 8;
        var header = new byte[8 + padded];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)padded);
        json.CopyTo(header, 8);
        for (int i = 8 + json.Length; i < header.Length; i++) header[i] = (byte)' ';
        return header;
    }

    /// <summary>Reads the header: entries with absolute file offsets, and the metadata.</summary>
    public static (List<SafetensorsEntry> Entries, Dictionary<string, string> Metadata) ReadHeader(Stream s)
    {
        Span<byte> len = stackalloc byte[8];
        s.ReadExactly(len);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(len);
        if (n > 100_000_000) throw new InvalidDataException("safetensors header too large");
        if (s.CanSeek && n > (ulong)Math.Max(0, s.Length - s.Position))
            throw new InvalidDataException($"safetensors header declares {n} bytes, the file holds {s.Length - s.Position} after the length");
        var json = new byte[n];
        s.ReadExactly(json);
        long dataStart = 8 + (long)n;
        var entries = new List<SafetensorsEntry>();
        var meta = new Dictionary<string, string>();
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json); }
        catch (JsonException e) { throw new InvalidDataException($"safetensors header is not JSON: {e.Message}"); }
        using var _ = doc;
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__")
            {
                foreach (var m in p.Value.EnumerateObject()) meta[m.Name] = m.Value.GetString() ?? "";
                continue;
            }
            var dtype = ParseDType(p.Value.GetProperty("dtype").GetString()!);
            var shape = p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var off = p.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            if (off.Length != 2 || off[1] - off[0] != DTypes.ByteSize(dtype, shape))
                throw new InvalidDataException($"safetensors tensor '{p.Name}' has inconsistent offsets");
            if (off[0] < 0 || (s.CanSeek && dataStart + off[1] > s.Length))
                throw new InvalidDataException($"safetensors tensor '{p.Name}' lies outside the file (bytes {off[0]}..{off[1]} of a {Math.Max(0, s.Length - dataStart)}-byte data section)");
            entries.Add(new SafetensorsEntry(p.Name, dtype, shape, dataStart + off[0], dataStart + off[1]));
        }
        return (entries, meta);
    }
}
