using System.Collections.Concurrent;
using ConceptSuite.Contracts;
using Grpc.Core;

namespace ConceptSuite.Client;

/// <summary>
/// A call invoker whose calls parse received tensor payloads into pooled buffers
/// (<see cref="ReceivedBlocks"/>): responses that are, or wrap, a <see cref="TensorBlock"/>.
/// Messages are the same as with the generated parser; a consumer that is done with a block's
/// bytes may hand them back with <see cref="ReceivedBlocks.Release"/> (or map them into a tensor
/// that returns them when freed), and a block it keeps is simply collected with its buffer.
/// <c>new XClient(new PooledReceiveInvoker(channel.CreateCallInvoker()))</c>.
/// </summary>
public sealed class PooledReceiveInvoker(CallInvoker inner) : CallInvoker
{
    readonly ConcurrentDictionary<IMethod, object> _methods = new();

    Method<TRequest, TResponse> Pooled<TRequest, TResponse>(Method<TRequest, TResponse> method)
        where TRequest : class where TResponse : class =>
        (Method<TRequest, TResponse>)_methods.GetOrAdd(method, static m => ReceivedBlocks.Pooled((Method<TRequest, TResponse>)m));

    public override TResponse BlockingUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) =>
        inner.BlockingUnaryCall(Pooled(method), host, options, request);

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) =>
        inner.AsyncUnaryCall(Pooled(method), host, options, request);

    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) =>
        inner.AsyncServerStreamingCall(Pooled(method), host, options, request);

    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options) =>
        inner.AsyncClientStreamingCall(Pooled(method), host, options);

    public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options) =>
        inner.AsyncDuplexStreamingCall(Pooled(method), host, options);
}
