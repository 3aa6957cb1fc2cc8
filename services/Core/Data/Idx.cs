using System.Buffers.Binary;
using System.IO.Compression;
using TorchSharp;

namespace ConceptSuite.Core.Data;

/// <summary>
/// The IDX format of MNIST and Fashion-MNIST (optionally gzipped): magic 0x0000 {type} {ndims},
/// ndims big-endian uint32 dims, then the data. Only type 0x08 (uint8) occurs in these sets.
/// </summary>
public static class Idx
{
    public static torch.Tensor Read(string path, long? limit = null)
    {
        using var file = File.OpenRead(path);
        using Stream s = path.EndsWith(".gz", StringComparison.Ordinal) ? new GZipStream(file, CompressionMode.Decompress) : file;
        Span<byte> head = stackalloc byte[4];
        s.ReadExactly(head);
        if (head[0] != 0 || head[1] != 0 || head[2] != 0x08)
            throw new InvalidDataException($"{path}: not an IDX uint8 file (magic {Convert.ToHexString(head)})");
        int ndims = head[3];
        var dims = new long[ndims];
        for (int i = 0; i < ndims; i++) { s.ReadExactly(head); dims[i] = BinaryPrimitives.ReadUInt32BigEndian(head); }
        if (limit is { } l && l < dims[0]) dims[0] = l;
        long count = 1;
        foreach (var d in dims) count *= d;
        var bytes = new byte[count];
        s.ReadExactly(bytes);
        return torch.tensor(bytes, dims, torch.ScalarType.Byte);
    }
}
