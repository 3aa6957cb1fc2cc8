using System.Reflection;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace ConceptSuite.Contracts;

/// <summary>
/// Splits a logical tensor [N, ...] held as raw bytes into <see cref="TensorBlock"/>s of whole
/// rows, each at most <c>maxBlockBytes</c> of payload (at least one row per block). The bytes are
/// wrapped, not copied (<see cref="UnsafeByteOperations.UnsafeWrap"/>): the caller keeps the
/// memory alive and unchanged until the blocks are written.
/// </summary>
public static class TensorBlocks
{
    /// <summary>
    /// Every method of the contract whose request stream carries tensor blocks (a
    /// <see cref="TensorBlock"/>, or a message with a TensorBlock field), as (service full name,
    /// method name).
    /// </summary>
    public static IReadOnlyList<(string Service, string Method)> RequestStreamMethods { get; } = FindRequestStreamMethods();

    static List<(string, string)> FindRequestStreamMethods()
    {
        var found = new List<(string, string)>();
        foreach (var type in typeof(TensorBlock).Assembly.GetTypes())
            if (type.GetProperty("Descriptor", BindingFlags.Public | BindingFlags.Static)?.GetValue(null) is FileDescriptor file)
                foreach (var service in file.Services)
                    foreach (var method in service.Methods)
                        if (method.IsClientStreaming && (method.InputType == TensorBlock.Descriptor || BlockField(method.InputType) is not null))
                            found.Add((service.FullName, method.Name));
        return found;
    }

    /// <summary>
    /// The message's top-level field that holds one <see cref="TensorBlock"/> (the stages' request
    /// and reply wrappers), or null when it has none or more than one.
    /// </summary>
    public static FieldDescriptor? BlockField(MessageDescriptor message)
    {
        var fields = message.Fields.InFieldNumberOrder()
            .Where(f => f.FieldType == FieldType.Message && !f.IsRepeated && !f.IsMap && f.MessageType == TensorBlock.Descriptor).ToList();
        return fields is [var only] ? only : null;
    }

    /// <summary>Default payload budget per block: 1 MiB, well under gRPC's 4 MB default limit.</summary>
    public const int DefaultMaxBlockBytes = 1 << 20;

    /// <summary>Rows per block for a row of <paramref name="rowBytes"/> bytes under the budget.</summary>
    public static long RowsPerBlock(long rowBytes, int maxBlockBytes = DefaultMaxBlockBytes)
    {
        if (maxBlockBytes <= 0) throw new InvalidInputException("max_block_bytes", "must be > 0");
        return rowBytes == 0 ? long.MaxValue : Math.Max(1, maxBlockBytes / rowBytes);
    }

    /// <summary>Splits <paramref name="data"/> (shape[0] rows) into blocks.</summary>
    /// <param name="totalRows">N of the logical tensor when the data is only a part of it
    /// (then <paramref name="rowOffset"/> says where the part starts); -1 when unknown.</param>
    public static IEnumerable<TensorBlock> Split(
        DType dtype, IReadOnlyList<long> shape, ReadOnlyMemory<byte> data, string name = "",
        IReadOnlyList<string>? ids = null, int maxBlockBytes = DefaultMaxBlockBytes,
        long rowOffset = 0, long? totalRows = null)
    {
        if (shape.Count == 0) throw new InvalidInputException("shape", "a block stream needs at least one dimension (rows)");
        long bytes = DTypes.ByteSize(dtype, shape);
        if (data.Length != bytes) throw new InvalidInputException("data", $"has {data.Length} bytes, shape needs {bytes}");
        long rows = shape[0];
        if (ids is not null && ids.Count != rows) throw new InvalidInputException("ids", $"has {ids.Count} entries for {rows} rows");
        long rowBytes = rows == 0 ? 0 : bytes / rows;
        long per = RowsPerBlock(rowBytes, maxBlockBytes);
        var total = new long[shape.Count];
        total[0] = totalRows ?? rows;
        for (int i = 1; i < shape.Count; i++) total[i] = shape[i];

        if (rows == 0)
        {
            // An empty tensor still travels as one block so the receiver learns dtype and shape.
            yield return MakeBlock(dtype, shape, 0, ReadOnlyMemory<byte>.Empty, name, total, rowOffset, null, 0);
            yield break;
        }
        for (long r = 0; r < rows; r += per)
        {
            long n = Math.Min(per, rows - r);
            var slice = data.Slice(checked((int)(r * rowBytes)), checked((int)(n * rowBytes)));
            yield return MakeBlock(dtype, shape, n, slice, name, total, rowOffset + r, ids, r);
        }
    }

    static TensorBlock MakeBlock(DType dtype, IReadOnlyList<long> shape, long n, ReadOnlyMemory<byte> slice,
        string name, long[] total, long offset, IReadOnlyList<string>? ids, long first)
    {
        var t = new Tensor { Dtype = dtype, Data = UnsafeByteOperations.UnsafeWrap(slice) };
        t.Shape.Add(n);
        for (int i = 1; i < shape.Count; i++) t.Shape.Add(shape[i]);
        var b = new TensorBlock { Name = name, RowOffset = offset, Tensor = t };
        b.TotalShape.Add(total);
        if (ids is not null)
            for (long i = first; i < first + n; i++) b.Ids.Add(ids[(int)i]);
        return b;
    }
}
