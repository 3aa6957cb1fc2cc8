using System.Buffers;
using System.Runtime.InteropServices;
using ConceptSuite.Contracts;
using Google.Protobuf;
using TorchSharp;
using static TorchSharp.torch;
using WireTensor = ConceptSuite.Contracts.Tensor;

namespace ConceptSuite.Core.Tensors;

/// <summary>
/// The one codec between wire tensors and TorchSharp tensors. Receiving maps the message's
/// bytes into a tensor without a copy where the bytes are an aligned managed array
/// (<c>torch.frombuffer</c> pins it); sending wraps a contiguous CPU tensor's storage
/// (<see cref="UnsafeByteOperations.UnsafeWrap"/>) without a copy.
/// </summary>
public static class TensorCodec
{
    public static ScalarType ToScalarType(DType dtype, string field = "dtype") => dtype switch
    {
        DType.Float32 => ScalarType.Float32,
        DType.Float64 => ScalarType.Float64,
        DType.Float16 => ScalarType.Float16,
        DType.Bfloat16 => ScalarType.BFloat16,
        DType.Int64 => ScalarType.Int64,
        DType.Int32 => ScalarType.Int32,
        DType.Uint8 => ScalarType.Byte,
        DType.Bool => ScalarType.Bool,
        _ => throw new InvalidInputException(field, $"unsupported dtype {dtype}"),
    };

    public static DType ToDType(ScalarType type) => type switch
    {
        ScalarType.Float32 => DType.Float32,
        ScalarType.Float64 => DType.Float64,
        ScalarType.Float16 => DType.Float16,
        ScalarType.BFloat16 => DType.Bfloat16,
        ScalarType.Int64 => DType.Int64,
        ScalarType.Int32 => DType.Int32,
        ScalarType.Byte => DType.Uint8,
        ScalarType.Bool => DType.Bool,
        _ => throw new NotSupportedException($"tensor dtype {type} has no wire dtype"),
    };

    /// <summary>Wire tensor → CPU tensor (validated). Shares the message's bytes when possible.</summary>
    public static torch.Tensor ToTorch(WireTensor message, string field = "tensor")
    {
        DTypes.Validate(message, field);
        return FromBytes(message.Dtype, message.Shape.ToArray(), message.Data.Memory);
    }

    /// <summary>Raw little-endian bytes → CPU tensor of the given dtype and shape (not validated).</summary>
    public static torch.Tensor FromBytes(DType dtype, long[] shape, ReadOnlyMemory<byte> bytes)
    {
        var type = ToScalarType(dtype);
        int size = DTypes.ElementSize(dtype);
        long count = bytes.Length / size;
        if (count == 0) return torch.empty(shape, type);
        if (MemoryMarshal.TryGetArray(bytes, out ArraySegment<byte> seg) && seg.Array is not null && seg.Offset % size == 0)
        {
            // Zero copy: the tensor pins the array for its lifetime.
            using var flat = PinnedBuffers.Wrap(seg.Array, seg.Offset, count, type);
            return flat.view(shape);
        }
        var t = torch.empty(shape, type);
        bytes.Span.CopyTo(t.bytes);
        return t;
    }

    /// <summary>
    /// The tensor of a received block (not validated). A payload parsed into a pooled buffer
    /// (<see cref="ReceivedBlocks"/>) moves into the tensor without a copy and goes back to the
    /// pool when the tensor is freed; the block's data is empty afterwards. Other payloads map as
    /// <see cref="FromBytes"/> does.
    /// </summary>
    public static torch.Tensor TakeTensor(TensorBlock block)
    {
        var wire = block.Tensor;
        var shape = wire.Shape.ToArray();
        if (!ReceivedBlocks.TakeLease(block, out var array, out int length)) return FromBytes(wire.Dtype, shape, wire.Data.Memory);
        torch.Tensor flat;
        try
        {
            flat = PinnedBuffers.Wrap(array, 0, length / DTypes.ElementSize(wire.Dtype), ToScalarType(wire.Dtype), () => ReceivedBlocks.Return(array));
        }
        catch
        {
            ReceivedBlocks.Return(array); // the tensor never existed; once it does, only its deleter returns the array
            throw;
        }
        using (flat) return flat.view(shape);
    }

    /// <summary>
    /// CPU tensor → wire tensor. The message shares the tensor's storage: keep the tensor alive
    /// and unchanged until the message is written. Non-contiguous or non-CPU tensors are copied
    /// to a contiguous CPU tensor first.
    /// </summary>
    public static WireTensor ToMessage(torch.Tensor tensor)
    {
        var t = Contiguous(tensor);
        var msg = new WireTensor { Dtype = ToDType(t.dtype), Data = UnsafeByteOperations.UnsafeWrap(Memory(t)) };
        msg.Shape.Add(t.shape);
        return msg;
    }

    /// <summary>CPU tensor → wire tensor with its own copy of the bytes (safe to dispose the tensor).</summary>
    public static WireTensor ToMessageCopy(torch.Tensor tensor)
    {
        var t = Contiguous(tensor);
        var msg = new WireTensor { Dtype = ToDType(t.dtype), Data = ByteString.CopyFrom(t.bytes) };
        msg.Shape.Add(t.shape);
        return msg;
    }

    /// <summary>Contiguous CPU version of a tensor (the same tensor when it already is one).</summary>
    public static torch.Tensor Contiguous(torch.Tensor tensor)
    {
        var t = tensor.device_type == DeviceType.CPU ? tensor : tensor.cpu();
        return t.is_contiguous() ? t : t.contiguous();
    }

    /// <summary>The storage of a contiguous CPU tensor as memory (no copy; the tensor must outlive it).</summary>
    public static ReadOnlyMemory<byte> Memory(torch.Tensor contiguousCpu)
    {
        long bytes = contiguousCpu.numel() * contiguousCpu.element_size();
        if (bytes == 0) return ReadOnlyMemory<byte>.Empty;
        return new TensorMemoryManager(contiguousCpu, bytes).Memory;
    }

    /// <summary>Exposes a tensor's storage as <see cref="Memory{T}"/>, keeping the tensor referenced.</summary>
    sealed unsafe class TensorMemoryManager : MemoryManager<byte>
    {
        readonly torch.Tensor _tensor;
        readonly byte* _ptr;
        readonly int _length;

        public TensorMemoryManager(torch.Tensor tensor, long length)
        {
            _tensor = tensor;
            _length = checked((int)length);
            // Tensor.bytes is a span over the native storage of a CPU tensor; its address is stable.
            fixed (byte* p = tensor.bytes) _ptr = p;
        }

        public override Span<byte> GetSpan() { GC.KeepAlive(_tensor); return new(_ptr, _length); }
        public override MemoryHandle Pin(int elementIndex = 0) => new(_ptr + elementIndex);
        public override void Unpin() { }
        protected override void Dispose(bool disposing) { }
    }
}
