using System.Text;
using System.Text.Json;
using ConceptSuite.Core.Artifacts;
using TorchSharp;

namespace ConceptSuite.Core.Data;

/// <summary>
/// A labelled text corpus. As an artifact (kind "texts"): tensors "utf8" uint8 [bytes] (the texts'
/// UTF-8 concatenated), "offsets" int64 [N + 1] (text i is bytes [offsets[i], offsets[i+1])) and
/// "labels" int64 [N]; metadata {"type": "texts", "name", "class_names"}. The id is content-derived.
/// </summary>
public sealed record TextDataset(string Name, IReadOnlyList<string> Texts, long[] Labels, IReadOnlyList<string> ClassNames)
{
    public const string Kind = "texts";

    public int Count => Texts.Count;

    /// <summary>Bytes the stored form of texts totalling <paramref name="utf8Bytes"/> bytes in <paramref name="count"/> rows takes.</summary>
    public static long StoredBytes(long count, long utf8Bytes) => utf8Bytes + 16 * count + 8;

    sealed record Meta(string type, string name, IReadOnlyList<string> class_names);

    /// <summary>The three tensors of the stored form (the caller's dispose scope owns them).</summary>
    public (torch.Tensor Utf8, torch.Tensor Offsets, torch.Tensor Labels) ToTensors()
    {
        var offsets = new long[Texts.Count + 1];
        var bytes = new List<byte[]>(Texts.Count);
        for (int i = 0; i < Texts.Count; i++)
        {
            bytes.Add(Encoding.UTF8.GetBytes(Texts[i]));
            offsets[i + 1] = offsets[i] + bytes[i].Length;
        }
        var flat = new byte[offsets[^1]];
        for (int i = 0; i < bytes.Count; i++) bytes[i].CopyTo(flat, offsets[i]);
        return (torch.tensor(flat, torch.ScalarType.Byte), torch.tensor(offsets), torch.tensor(Labels));
    }

    /// <summary>Stores the corpus as one "texts" artifact.</summary>
    public async Task<Contracts.ArtifactInfo> SaveAsync(ArtifactStore store, CancellationToken ct = default)
    {
        // Made outside any dispose scope (the store's write awaits), owned and freed here.
        var (utf8, offsets, labels) = Streaming.TensorScope.Run(() =>
        {
            var (u, o, l) = ToTensors();
            return (u.DetachFromDisposeScope(), o.DetachFromDisposeScope(), l.DetachFromDisposeScope());
        });
        using (utf8) using (offsets) using (labels)
        {
            var tensors = new Dictionary<string, torch.Tensor> { ["utf8"] = utf8, ["offsets"] = offsets, ["labels"] = labels };
            var meta = JsonSerializer.Serialize(new Meta("texts", Name, ClassNames));
            return await store.PutAsync(Kind, tensors, meta, new Dictionary<string, string> { ["name"] = Name }, ct);
        }
    }

    /// <summary>The texts of the stored form: UTF-8 bytes cut at the offsets.</summary>
    public static List<string> Decode(ReadOnlySpan<byte> utf8, ReadOnlySpan<long> offsets)
    {
        var texts = new List<string>(Math.Max(0, offsets.Length - 1));
        for (int i = 0; i + 1 < offsets.Length; i++)
        {
            long a = offsets[i], b = offsets[i + 1];
            if (a < 0 || b < a || b > utf8.Length) throw new InvalidDataException($"texts: offsets[{i}] = {a}..{b} outside the {utf8.Length} bytes");
            texts.Add(Encoding.UTF8.GetString(utf8[(int)a..(int)b]));
        }
        return texts;
    }

    /// <summary>Loads a "texts" artifact whole.</summary>
    public static TextDataset Load(ArtifactReader reader)
    {
        if (reader.Info.Ref.Kind != Kind)
            throw new Contracts.InvalidInputException("texts", $"artifact {reader.Info.Ref.Id} is a '{reader.Info.Ref.Kind}', not a text corpus");
        var meta = JsonSerializer.Deserialize<Meta>(reader.Info.MetadataJson) ?? throw new InvalidDataException("texts metadata missing");
        using var scope = torch.NewDisposeScope();
        var utf8 = reader.Read("utf8");
        var offsets = reader.Read("offsets");
        var labels = reader.Read("labels");
        var texts = Decode(utf8.bytes, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(offsets.bytes));
        return new TextDataset(meta.name, texts, labels.data<long>().ToArray(), meta.class_names);
    }
}
