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
/// carries a <see cref="SharedSlice"/> gets the slice's bytes, copied out of the caller's region, as
/// its tensor.data. Services, validators and budgets therefore handle one kind of block whatever
/// path it took, and a block from shared memory is held to the size of an inline one.
/// </summary>
public sealed class SharedSliceInterceptor(SharedRegions regions, IOptions<SuiteOptions> options) : Interceptor
{
    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Resolve(request, context);
        return continuation(request, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation) =>
        continuation(new Reader<TRequest>(requestStream, m => Resolve(m, context)), context);

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation) =>
        continuation(new Reader<TRequest>(requestStream, m => Resolve(m, context)), responseStream, context);

    void Resolve<T>(T message, ServerCallContext context)
    {
        if (message is not IMessage m) return;
        if (m is TensorBlock block) { Resolve(block, "block", context); return; }
        foreach (var f in TensorBlockFields.Of(m.Descriptor))
            if (f.Accessor.GetValue(m) is TensorBlock b) Resolve(b, f.Name, context);
    }

    void Resolve(TensorBlock block, string field, ServerCallContext context)
    {
        if (block.Shared is null) return;
        if (block.Tensor is null) throw new InvalidInputException(field + ".tensor", "a shared block still needs tensor.dtype and tensor.shape");
        if (!block.Tensor.Data.IsEmpty) throw new InvalidInputException(field + ".shared", "set together with tensor.data: send the bytes one way");
        var bytes = regions.Read(SharedRegions.OwnerOf(context), block.Shared, options.Value.MaxMessageBytes, field + ".shared");
        block.Tensor.Data = UnsafeByteOperations.UnsafeWrap(bytes);
        block.Shared = null;
    }

    sealed class Reader<T>(IAsyncStreamReader<T> inner, Action<T> resolve) : IAsyncStreamReader<T>
    {
        public T Current { get; private set; } = default!;

        public async Task<bool> MoveNext(CancellationToken cancellationToken)
        {
            if (!await inner.MoveNext(cancellationToken)) return false;
            var m = inner.Current;
            resolve(m);
            Current = m;
            return true;
        }
    }
}
