using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Core;

namespace ConceptSuite.Contracts;

/// <summary>
/// Receive-side parsing of tensor payloads into pooled buffers. Google.Protobuf copies every
/// <c>bytes</c> field into a new array; for 1 MiB blocks each such array lands on the large-object
/// heap, and a GiB of them costs about 0.25 CPU s and ~60 gen-2 collections on this machine
/// (against 0.04 s to copy the same bytes into reused arrays). This parser copies a
/// <see cref="Tensor.Data"/> payload of at least <see cref="MinPooledBytes"/> into an array rented
/// from <see cref="ArrayPool{T}.Shared"/> instead; everything else in the message is parsed by the
/// generated parser, so the result equals the generated parser's field for field.
/// <para>
/// A rented array goes back to the pool only when its holder says the bytes are dead:
/// <see cref="Release"/> after the block was consumed (copied, hashed, counted), or
/// <see cref="TakeLease"/> when a tensor maps the bytes and returns them when it is freed. Both
/// clear the block's data, so a later read sees an empty payload instead of another block's
/// bytes. A block nobody releases is simply collected with its array, as without the pool.
/// </para>
/// </summary>
public static class ReceivedBlocks
{
    /// <summary>Payloads below this size are parsed as the generated parser does (small arrays are cheap).</summary>
    public const int MinPooledBytes = 64 << 10;

    /// <summary>
    /// Whether marshallers made by <see cref="Marshaller{T}"/> parse into pooled buffers
    /// (ConceptSuite:PooledReceive, default on; benchmarks switch it per pass).
    /// </summary>
    public static bool Enabled { get; set; } = true;

    // Arrays rented by this class and not yet returned; the lease guards against a double return.
    static readonly ConditionalWeakTable<byte[], Lease> Leases = new();

    sealed class Lease
    {
        int _returned;
        public bool TryEnd() => Interlocked.Exchange(ref _returned, 1) == 0;
    }

    static long _pooledBytes, _returnedBytes;

    /// <summary>Payload bytes parsed into pooled arrays, and bytes returned to the pool, since start.</summary>
    public static (long Pooled, long Returned) Counters => (Interlocked.Read(ref _pooledBytes), Interlocked.Read(ref _returnedBytes));

    /// <summary>
    /// The pooled array behind a block's payload and its length, when it has one that was not
    /// returned yet.
    /// </summary>
    public static bool TryGetLeased(TensorBlock block, out byte[] array, out int length)
    {
        array = [];
        length = 0;
        if (block.Tensor is not { } t || t.Data.IsEmpty) return false;
        if (!MemoryMarshal.TryGetArray(t.Data.Memory, out var seg) || seg.Array is null || seg.Offset != 0) return false;
        if (!Leases.TryGetValue(seg.Array, out _)) return false;
        array = seg.Array;
        length = seg.Count;
        return true;
    }

    /// <summary>
    /// The block's bytes are no longer needed: its pooled array (if any) goes back to the pool and
    /// the block's payload becomes empty. Call only when no other reference to the payload remains
    /// (a tensor mapped from it, a message still being written).
    /// </summary>
    public static void Release(TensorBlock? block)
    {
        if (block is null || !TryGetLeased(block, out var array, out _)) return;
        block.Tensor.Data = ByteString.Empty;
        Return(array);
    }

    /// <summary>
    /// Hands the block's pooled array to a new owner (a tensor mapped from it): the block's payload
    /// becomes empty and <paramref name="array"/> must be given back with <see cref="Return"/>
    /// exactly once, when the owner is done. False when the payload is not pooled.
    /// </summary>
    public static bool TakeLease(TensorBlock block, out byte[] array, out int length)
    {
        if (!TryGetLeased(block, out array, out length)) return false;
        block.Tensor.Data = ByteString.Empty;
        return true;
    }

    /// <summary>Returns a leased array to the pool (once; later calls are ignored).</summary>
    public static void Return(byte[] array)
    {
        if (!Leases.TryGetValue(array, out var lease) || !lease.TryEnd()) return;
        Leases.Remove(array);
        Interlocked.Add(ref _returnedBytes, array.Length);
        ArrayPool<byte>.Shared.Return(array);
    }

    /// <summary>Parses a <see cref="TensorBlock"/>, its payload pooled when large.</summary>
    public static TensorBlock ParseBlock(ReadOnlySequence<byte> wire) => Parse(TensorBlock.Parser, wire);

    /// <summary>
    /// Parses a message; a <see cref="TensorBlock"/>, or a message with a top-level
    /// <see cref="TensorBlock"/> field (the request and response wrappers of the stages), gets its
    /// large payload pooled. Anything the scan does not expect (a malformed message, a field
    /// repeated) is left to the generated parser, which then answers as it always does.
    /// </summary>
    public static T Parse<T>(MessageParser<T> parser, ReadOnlySequence<byte> wire) where T : IMessage<T>
    {
        try
        {
            if (typeof(T) == typeof(TensorBlock))
            {
                if (TryParseBlock(wire, out var block)) return (T)(object)block;
            }
            else if (BlockField<T>.Field is { } field && TryParseWrapper(parser, field, wire, out var message)) return message;
        }
        catch (InvalidProtocolBufferException)
        {
            // A field the generated parser refuses: let it refuse the whole message, with its own words.
        }
        return parser.ParseFrom(wire);
    }

    /// <summary>
    /// A marshaller for <typeparamref name="T"/> that parses through <see cref="Parse{T}"/> while
    /// <see cref="Enabled"/>; <paramref name="inner"/> serializes (and parses when disabled).
    /// </summary>
    public static Marshaller<T> Marshaller<T>(Marshaller<T> inner, MessageParser<T> parser) where T : class, IMessage<T> =>
        new(inner.ContextualSerializer, ctx => Enabled ? Parse(parser, ctx.PayloadAsReadOnlySequence()) : inner.ContextualDeserializer(ctx));

    /// <summary>The same method with pooled parsing of requests and responses that carry blocks.</summary>
    public static Method<TRequest, TResponse> Pooled<TRequest, TResponse>(Method<TRequest, TResponse> method)
        where TRequest : class where TResponse : class
    {
        var request = MarshallerFor(method.RequestMarshaller);
        var response = MarshallerFor(method.ResponseMarshaller);
        if (ReferenceEquals(request, method.RequestMarshaller) && ReferenceEquals(response, method.ResponseMarshaller)) return method;
        return new Method<TRequest, TResponse>(method.Type, method.ServiceName, method.Name, request, response);
    }

    static readonly ConcurrentDictionary<Type, object?> Factories = new();

    static Marshaller<T> MarshallerFor<T>(Marshaller<T> inner) where T : class
    {
        var make = Factories.GetOrAdd(typeof(T), static t =>
        {
            const System.Reflection.BindingFlags statics = System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static;
            if (!typeof(IMessage).IsAssignableFrom(t) || t.GetProperty("Parser", statics) is not { } p) return null;
            // Only a TensorBlock, or a message with one TensorBlock field, may carry a pooled payload.
            if (t != typeof(TensorBlock) && (t.GetProperty("Descriptor", statics)?.GetValue(null) is not MessageDescriptor d || TensorBlocks.BlockField(d) is null))
                return null;
            var factory = typeof(ReceivedBlocks).GetMethod(nameof(Marshaller))!.MakeGenericMethod(t);
            var parser = p.GetValue(null);
            return (Func<object, object>)(m => factory.Invoke(null, [m, parser])!);
        });
        return make is Func<object, object> f ? (Marshaller<T>)f(inner) : inner;
    }

    static class BlockField<T> where T : IMessage<T>
    {
        // The message's one top-level TensorBlock field, if it has one.
        public static readonly FieldDescriptor? Field = Find();

        static FieldDescriptor? Find() =>
            typeof(T).GetProperty("Descriptor", System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)?.GetValue(null) is MessageDescriptor d
                ? TensorBlocks.BlockField(d)
                : null;
    }

    static bool TryParseWrapper<T>(MessageParser<T> parser, FieldDescriptor field, ReadOnlySequence<byte> wire, out T message) where T : IMessage<T>
    {
        message = default!;
        if (!TrySplit(wire, field.FieldNumber, out var block, out var rest) || block is null) return false;
        if (!TryParseBlock(block.Value, out var parsed)) return false;
        message = parser.ParseFrom(rest);
        // Another member of the block's oneof in the rest: which one wins depends on the order on
        // the wire, which the generated parser knows.
        if (field.RealContainingOneof is { } oneof && oneof.Accessor.GetCaseFieldDescriptor(message) is not null)
        {
            Release(parsed);
            return false;
        }
        field.Accessor.SetValue(message, parsed);
        return true;
    }

    static bool TryParseBlock(ReadOnlySequence<byte> wire, out TensorBlock block)
    {
        block = null!;
        if (!TrySplit(wire, TensorBlock.TensorFieldNumber, out var tensor, out var rest)) return false;
        Tensor? t = null;
        if (tensor is { } bytes && !TryParseTensor(bytes, out t)) return false;
        block = TensorBlock.Parser.ParseFrom(rest);
        if (t is not null) block.Tensor = t;
        return true;
    }

    static bool TryParseTensor(ReadOnlySequence<byte> wire, out Tensor tensor)
    {
        tensor = null!;
        if (!TrySplit(wire, Tensor.DataFieldNumber, out var data, out var rest)) return false;
        tensor = Tensor.Parser.ParseFrom(rest);
        if (data is { } d)
        {
            if (d.Length < MinPooledBytes) tensor.Data = UnsafeByteOperations.UnsafeWrap(d.ToArray()); // a fresh array, owned by the message
            else
            {
                int length = checked((int)d.Length);
                var array = ArrayPool<byte>.Shared.Rent(length);
                d.CopyTo(array);
                Leases.AddOrUpdate(array, new Lease());
                Interlocked.Add(ref _pooledBytes, length);
                tensor.Data = UnsafeByteOperations.UnsafeWrap(array.AsMemory(0, length));
            }
        }
        return true;
    }

    /// <summary>
    /// Splits a message's wire bytes into the value of one length-delimited field and every other
    /// field. False when the message is malformed or has the field more than once (protobuf then
    /// merges or overrides, which the generated parser does).
    /// </summary>
    static bool TrySplit(ReadOnlySequence<byte> wire, int number, out ReadOnlySequence<byte>? field, out ReadOnlySequence<byte> rest)
    {
        field = null;
        rest = default;
        var scan = new Scan(wire);
        while (scan.Next(out int n, out int wireType, out var value, out var whole))
        {
            if (n == number && wireType == 2)
            {
                if (field is not null) return false;
                field = value;
            }
            else scan.Keep(whole);
        }
        if (!scan.Ok) return false;
        rest = scan.Rest();
        return true;
    }

    /// <summary>
    /// Walks the top-level fields of a message's wire bytes, keeping the ones the caller does not
    /// take apart so that the generated parser can read them as one message.
    /// </summary>
    ref struct Scan(ReadOnlySequence<byte> wire)
    {
        SequenceReader<byte> _reader = new(wire);
        ArrayBufferWriter<byte>? _rest;
        public bool Ok { get; private set; } = true;

        public void Keep(ReadOnlySequence<byte> whole)
        {
            _rest ??= new ArrayBufferWriter<byte>(256);
            foreach (var segment in whole) _rest.Write(segment.Span);
        }

        public readonly ReadOnlySequence<byte> Rest() => _rest is null ? ReadOnlySequence<byte>.Empty : new(_rest.WrittenMemory);

        /// <summary>The next field: its number, wire type, value (for length-delimited fields, the bytes after the length) and its whole encoding.</summary>
        public bool Next(out int number, out int wireType, out ReadOnlySequence<byte> value, out ReadOnlySequence<byte> whole)
        {
            number = wireType = 0;
            value = whole = default;
            if (_reader.End || !Ok) return false;
            var start = _reader.Position;
            if (!Varint(out ulong tag) || tag >> 3 == 0 || tag >> 3 > int.MaxValue) return Fail();
            number = (int)(tag >> 3);
            wireType = (int)(tag & 7);
            var valueStart = _reader.Position;
            switch (wireType)
            {
                case 0: if (!Varint(out _)) return Fail(); break;
                case 1: if (!Skip(8)) return Fail(); break;
                case 5: if (!Skip(4)) return Fail(); break;
                case 2:
                    if (!Varint(out ulong length) || length > (ulong)_reader.Remaining) return Fail();
                    valueStart = _reader.Position;
                    _reader.Advance((long)length);
                    break;
                default: return Fail(); // groups and invalid wire types: the generated parser decides
            }
            value = _reader.Sequence.Slice(valueStart, _reader.Position);
            whole = _reader.Sequence.Slice(start, _reader.Position);
            return true;
        }

        bool Fail() { Ok = false; return false; }

        bool Skip(int bytes)
        {
            if (_reader.Remaining < bytes) return false;
            _reader.Advance(bytes);
            return true;
        }

        bool Varint(out ulong value)
        {
            value = 0;
            for (int shift = 0; shift < 70; shift += 7)
            {
                if (!_reader.TryRead(out byte b)) return false;
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return true;
            }
            return false;
        }
    }
}
