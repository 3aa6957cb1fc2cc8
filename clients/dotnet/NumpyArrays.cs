using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using ConceptSuite.Contracts;

namespace ConceptSuite.Client;

/// <summary>
/// An array read from a user's file: numpy's element kind ('u', 'i', 'f', 'b') and size, the
/// shape, the raw little-endian row-major bytes, and where it came from (for messages).
/// </summary>
public sealed record RawArray(string Source, char Kind, int ItemSize, long[] Shape, byte[] Data)
{
    public long Count => Shape.Aggregate(1L, (a, b) => a * b);
    public string DTypeName => Kind == 'b' ? "bool" : $"{Kind switch { 'u' => "uint", 'i' => "int", _ => "float" }}{8 * ItemSize}";

    /// <summary>Element <paramref name="i"/> as a double.</summary>
    public double At(long i)
    {
        var s = Data.AsSpan(checked((int)(i * ItemSize)), ItemSize);
        return (Kind, ItemSize) switch
        {
            ('u', 1) or ('b', 1) => s[0],
            ('u', 2) => BinaryPrimitives.ReadUInt16LittleEndian(s),
            ('u', 4) => BinaryPrimitives.ReadUInt32LittleEndian(s),
            ('u', 8) => BinaryPrimitives.ReadUInt64LittleEndian(s),
            ('i', 1) => (sbyte)s[0],
            ('i', 2) => BinaryPrimitives.ReadInt16LittleEndian(s),
            ('i', 4) => BinaryPrimitives.ReadInt32LittleEndian(s),
            ('i', 8) => BinaryPrimitives.ReadInt64LittleEndian(s),
            ('f', 2) => (double)BinaryPrimitives.ReadHalfLittleEndian(s),
            ('f', 4) => BinaryPrimitives.ReadSingleLittleEndian(s),
            ('f', 8) => BinaryPrimitives.ReadDoubleLittleEndian(s),
            _ => throw new DatasetFileException(Source, $"dtype {DTypeName} is not supported"),
        };
    }
}

/// <summary>A user's file that cannot be imported: the file (and key) and what is wrong with it.</summary>
public sealed class DatasetFileException(string source, string problem) : Exception($"{source}: {problem}")
{
    /// <summary>The file (and, in an archive, the key) at fault.</summary>
    public string File { get; } = source;
    public string Problem { get; } = problem;
}

/// <summary>
/// numpy's .npy format (version 1, 2 and 3: magic "\x93NUMPY", header length, a Python dict
/// literal with descr, fortran_order and shape, then the data) and .npz (a zip of .npy files,
/// stored or deflated), and safetensors files, read into <see cref="RawArray"/>s. The header is
/// checked against the bytes the file really holds, and against <c>maxBytes</c>, before anything of
/// the declared size is allocated: a corrupt or hostile header is an error naming the file.
/// </summary>
public static partial class NumpyArrays
{
    static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")]
    private static partial Regex Descr();

    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")]
    private static partial Regex Fortran();

    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapeText();

    /// <summary>Reads one .npy file.</summary>
    public static RawArray ReadNpy(string path, long maxBytes)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read);
        return ReadNpy(f, f.Length, path, maxBytes);
    }

    /// <summary>Reads an .npy stream of <paramref name="length"/> bytes (a file, or a member of an .npz).</summary>
    public static RawArray ReadNpy(Stream s, long length, string source, long maxBytes)
    {
        var magic = new byte[8];
        if (length < 10 || s.ReadAtLeast(magic, 8, throwOnEndOfStream: false) < 8 || !magic.AsSpan(0, 6).SequenceEqual(Magic))
            throw new DatasetFileException(source, "not an .npy file (no \\x93NUMPY magic)");
        int major = magic[6];
        if (major is not (1 or 2 or 3)) throw new DatasetFileException(source, $".npy format version {major}.{magic[7]} is not supported (1, 2 or 3)");
        int lenBytes = major == 1 ? 2 : 4;
        var lenBuf = new byte[lenBytes];
        s.ReadExactly(lenBuf);
        long headerLen = major == 1 ? BinaryPrimitives.ReadUInt16LittleEndian(lenBuf) : BinaryPrimitives.ReadUInt32LittleEndian(lenBuf);
        long dataStart = 8 + lenBytes + headerLen;
        if (headerLen > 1 << 20 || dataStart > length)
            throw new DatasetFileException(source, $"corrupt .npy header: it declares {headerLen} header bytes in a {length}-byte file");
        var header = new byte[headerLen];
        s.ReadExactly(header);
        var text = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(header);
        var descr = Descr().Match(text);
        var fortran = Fortran().Match(text);
        var shapeText = ShapeText().Match(text);
        if (!descr.Success || !fortran.Success || !shapeText.Success)
            throw new DatasetFileException(source, $"corrupt .npy header (needs descr, fortran_order and shape): {text.Trim()}");
        if (fortran.Groups[1].Value == "True")
            throw new DatasetFileException(source, "the array is stored in Fortran order; save it with np.save(path, np.ascontiguousarray(a))");
        var (kind, size) = ParseDescr(descr.Groups[1].Value, source);
        var shape = ParseShape(shapeText.Groups[1].Value, source);
        long bytes = Bytes(shape, size, source, maxBytes);
        if (bytes != length - dataStart)
            throw new DatasetFileException(source, $"the header declares shape ({string.Join(", ", shape)}) of {descr.Groups[1].Value}, {bytes} bytes, but the file holds {length - dataStart} bytes of data");
        var data = new byte[bytes];
        s.ReadExactly(data);
        return new RawArray(source, kind, size, shape, data);
    }

    /// <summary>Every array of an .npz file, by key (the member name without ".npy").</summary>
    public static Dictionary<string, RawArray> ReadNpz(string path, long maxBytes)
    {
        ZipArchive zip;
        try { zip = ZipFile.OpenRead(path); }
        catch (InvalidDataException e) { throw new DatasetFileException(path, $"not an .npz file (a zip archive): {e.Message}"); }
        using (zip)
        {
            var result = new Dictionary<string, RawArray>(StringComparer.Ordinal);
            long total = 0;
            foreach (var entry in zip.Entries)
            {
                if (!entry.FullName.EndsWith(".npy", StringComparison.Ordinal)) continue;
                var key = entry.FullName[..^4];
                var source = $"{path}:{key}";
                total += entry.Length;
                if (total > maxBytes) throw new DatasetFileException(source, $"the archive's arrays exceed {maxBytes} bytes in all");
                using var s = entry.Open();
                try { result[key] = ReadNpy(s, entry.Length, source, maxBytes); }
                catch (InvalidDataException e) { throw new DatasetFileException(source, $"corrupt archive member: {e.Message}"); }
                catch (EndOfStreamException) { throw new DatasetFileException(source, "the archive member ends before its declared size"); }
            }
            return result;
        }
    }

    /// <summary>Every tensor of a safetensors file, by name.</summary>
    public static Dictionary<string, RawArray> ReadSafetensors(string path, long maxBytes)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read);
        List<SafetensorsEntry> entries;
        try { entries = SafetensorsFormat.ReadHeader(f).Entries; }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or InvalidInputException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new DatasetFileException(path, $"not a valid safetensors file: {e.Message}");
        }
        var result = new Dictionary<string, RawArray>(StringComparer.Ordinal);
        foreach (var e in entries)
        {
            var source = $"{path}:{e.Name}";
            var (kind, size) = e.DType switch
            {
                DType.Uint8 => ('u', 1), DType.Bool => ('b', 1), DType.Int32 => ('i', 4), DType.Int64 => ('i', 8),
                DType.Float16 => ('f', 2), DType.Float32 => ('f', 4), DType.Float64 => ('f', 8),
                _ => throw new DatasetFileException(source, $"safetensors dtype {SafetensorsFormat.DTypeName(e.DType)} is not supported"),
            };
            Bytes(e.Shape, size, source, maxBytes);
            var data = new byte[e.End - e.Begin];
            f.Position = e.Begin;
            f.ReadExactly(data);
            result[e.Name] = new RawArray(source, kind, size, e.Shape, data);
        }
        return result;
    }

    static (char Kind, int Size) ParseDescr(string descr, string source)
    {
        if (descr.Length < 3) throw new DatasetFileException(source, $"dtype '{descr}' is not supported");
        char order = descr[0], kind = descr[1];
        if (!int.TryParse(descr.AsSpan(2), NumberStyles.None, CultureInfo.InvariantCulture, out int size))
            throw new DatasetFileException(source, $"dtype '{descr}' is not supported (numbers only: uint, int, float, bool)");
        bool ok = (kind, size) is ('u' or 'i', 1 or 2 or 4 or 8) or ('f', 2 or 4 or 8) or ('b', 1);
        if (!ok) throw new DatasetFileException(source, $"dtype '{descr}' is not supported (numbers only: uint, int, float, bool)");
        if (order == '>' && size > 1) throw new DatasetFileException(source, $"dtype '{descr}' is big-endian; save it as '<{kind}{size}' (a.astype(a.dtype.newbyteorder('<')))");
        if (order is not ('<' or '|' or '=' or '>')) throw new DatasetFileException(source, $"dtype '{descr}' is not supported");
        return (kind, size);
    }

    static long[] ParseShape(string text, string source)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var shape = new long[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!long.TryParse(parts[i].TrimEnd('L'), NumberStyles.None, CultureInfo.InvariantCulture, out shape[i]))
                throw new DatasetFileException(source, $"corrupt .npy header: shape ({text}) is not a tuple of sizes");
        return shape;
    }

    /// <summary>The byte count of a shape, refused when it overflows or exceeds <paramref name="maxBytes"/>.</summary>
    static long Bytes(long[] shape, int itemSize, string source, long maxBytes)
    {
        long n = itemSize;
        foreach (var d in shape)
        {
            if (d < 0) throw new DatasetFileException(source, $"shape ({string.Join(", ", shape)}) has a negative size");
            try { n = checked(n * d); }
            catch (OverflowException) { throw new DatasetFileException(source, $"shape ({string.Join(", ", shape)}) overflows a byte count"); }
        }
        if (n > maxBytes) throw new DatasetFileException(source, $"shape ({string.Join(", ", shape)}) is {n} bytes, over the import limit of {maxBytes}");
        return n;
    }
}
