using ConceptSuite.Contracts;
using ConceptSuite.Core.Hosting;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Options;

namespace ConceptSuite.Core.Transport;

/// <summary>
/// Puts the bytes of shared-memory blocks back into the request messages before any service sees
/// them: every TensorBlock of a request (the message itself, or any of its TensorBlock fields) that
/// carries a <see cref="SharedSlice"/> gets the slice's bytes as its tensor.data, in place in the
/// caller's mapped region (<see cref="SharedMemoryOptions.ReadInPlace"/>, the default; the region
/// stays mapped until the call ends) or copied out of it. Services, validators and budgets
/// therefore handle one kind of block whatever path it took, and a block from shared memory is
/// held to the size of an inline one. Read in place, the bytes are the caller's until the call
/// ends: a caller that writes a slice it has sent changes only what its own call computes (shapes
/// and sizes come from the message, never from the slice), and a service never keeps a request's
/// bytes past its call.
/// The other direction: a caller that announces <see cref="AcceptHeader"/> with this host's boot id
/// gets the large blocks of its reply stream as slices of regions created for its key (it copies
/// them out and releases the regions); once the process's shared-memory limit is reached the rest
/// of the reply goes inline.
/// </summary>
public sealed class SharedSliceInterceptor(SharedRegions regions, IOptions<SuiteOptions> options) : Interceptor
{
    public const string AcceptHeader = "x-conceptsuite-shm-accept";
    /// <summary>Reply blocks smaller than this stay inline (a slice gains nothing on them).</summary>
    public const int MinSharedBytes = 64 << 10;
    const long ReplyRegionBytes = 64L << 20;

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        using var holds = new SliceHolds();
        return await continuation(Resolve(request, context, holds), context);
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        using var holds = new SliceHolds();
        await continuation(Resolve(request, context, holds), Replies(responseStream, context), context);
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        using var holds = new SliceHolds();
        return await continuation(new Reader<TRequest>(requestStream, m => Resolve(m, context, holds)), context);
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        using var holds = new SliceHolds();
        await continuation(new Reader<TRequest>(requestStream, m => Resolve(m, context, holds)), Replies(responseStream, context), context);
    }

    T Resolve<T>(T message, ServerCallContext context, SliceHolds holds) => TensorBlockFields.Rewrite(message, b => Resolve(b, context, holds));

    TensorBlock Resolve(TensorBlock block, ServerCallContext context, SliceHolds holds)
    {
        if (block.Shared is null) return block;
        if (block.Tensor is null) throw new InvalidInputException("block.tensor", "a shared block still needs tensor.dtype and tensor.shape");
        if (!block.Tensor.Data.IsEmpty) throw new InvalidInputException("block.shared", "set together with tensor.data: send the bytes one way");
        var owner = SharedRegions.OwnerOf(context);
        long max = options.Value.MaxMessageBytes;
        var bytes = regions.Options.ReadInPlace
            ? regions.Borrow(owner, block.Shared, max, "block.shared", holds)
            : regions.Read(owner, block.Shared, max, "block.shared");
        var resolved = block.Clone();
        resolved.Tensor.Data = UnsafeByteOperations.UnsafeWrap(bytes);
        resolved.Shared = null;
        return resolved;
    }

    IServerStreamWriter<T> Replies<T>(IServerStreamWriter<T> inner, ServerCallContext context)
    {
        var accept = context.RequestHeaders.GetValue(AcceptHeader);
        if (!regions.Options.Enabled || string.IsNullOrEmpty(accept) || accept != SharedRegionFile.BootId) return inner;
        return new Writer<T>(inner, new ReplyPlacer(regions, SharedRegions.OwnerOf(context)));
    }

    /// <summary>Places one call's reply blocks into regions of the caller's key, 64 MiB at a time.</summary>
    sealed class ReplyPlacer(SharedRegions regions, string owner)
    {
        SharedRegion? _region;
        long _used;
        bool _inline;

        public TensorBlock Place(TensorBlock block)
        {
            var data = block.Tensor?.Data ?? ByteString.Empty;
            if (_inline || data.Length < MinSharedBytes || block.Shared is not null) return block;
            if (_region is null || _region.Bytes - _used < data.Length)
            {
                try { _region = regions.Create(owner, Math.Max(ReplyRegionBytes, data.Length), 0); }
                catch (ResourceExhaustedException) { _inline = true; return block; }
                _used = 0;
            }
            regions.Write(owner, _region.Region, _used, data.Span);
            var shared = block.Clone();
            shared.Tensor.Data = ByteString.Empty;
            shared.Shared = new SharedSlice { Region = _region.Region, Offset = _used, Length = data.Length, Path = _region.Path };
            _used = (_used + data.Length + 63) & ~63L;
            return shared;
        }
    }

    sealed class Writer<T>(IServerStreamWriter<T> inner, ReplyPlacer placer) : IServerStreamWriter<T>
    {
        public WriteOptions? WriteOptions { get => inner.WriteOptions; set => inner.WriteOptions = value; }
        public Task WriteAsync(T message) => inner.WriteAsync(TensorBlockFields.Rewrite(message, placer.Place));
        public Task WriteAsync(T message, CancellationToken cancellationToken) => inner.WriteAsync(TensorBlockFields.Rewrite(message, placer.Place), cancellationToken);
    }

    sealed class Reader<T>(IAsyncStreamReader<T> inner, Func<T, T> resolve) : IAsyncStreamReader<T>
    {
        public T Current { get; private set; } = default!;

        public async Task<bool> MoveNext(CancellationToken cancellationToken)
        {
            if (!await inner.MoveNext(cancellationToken)) return false;
            Current = resolve(inner.Current);
            return true;
        }
    }
}
