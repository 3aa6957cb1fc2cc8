using System.Runtime.InteropServices;
using ConceptSuite.Contracts;

namespace ConceptSuite.Client;

/// <summary>A tensor in client memory: dtype, shape, raw little-endian row-major bytes, row ids.</summary>
public sealed record HostTensor(DType DType, long[] Shape, byte[] Data, IReadOnlyList<string> Ids)
{
    public long Rows => Shape.Length == 0 ? 1 : Shape[0];

    public static HostTensor FromFloats(float[] values, params long[] shape) =>
        new(DType.Float32, shape, MemoryMarshal.AsBytes(values.AsSpan()).ToArray(), []);

    public static HostTensor FromBytes(byte[] values, params long[] shape) => new(DType.Uint8, shape, values, []);

    public ReadOnlySpan<T> Span<T>() where T : unmanaged => MemoryMarshal.Cast<byte, T>(Data);

    public float[] ToFloats() => DType == DType.Float32 ? Span<float>().ToArray()
        : throw new InvalidOperationException($"tensor is {DType}, not float32");

    /// <summary>The tensor as blocks under the byte budget (the bytes are shared, not copied).</summary>
    public IEnumerable<TensorBlock> ToBlocks(string name = "", int maxBlockBytes = TensorBlocks.DefaultMaxBlockBytes) =>
        TensorBlocks.Split(DType, Shape, Data, name, Ids.Count == 0 ? null : Ids, maxBlockBytes);
}
