using ConceptSuite.Contracts;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;

namespace ConceptSuite.Core.Errors;

/// <summary>
/// The one error mapper: turns exceptions from services and methods into gRPC status codes with
/// a message a client can act on. INVALID_ARGUMENT carries "field: rule"; unknown failures become
/// INTERNAL with a correlation id (logged with the stack trace, which never reaches the client).
/// </summary>
public sealed class ErrorMappingInterceptor(ILogger<ErrorMappingInterceptor> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try { return await continuation(request, context); }
        catch (Exception e) when (e is not RpcException) { throw Map(e, context); }
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try { return await continuation(requestStream, context); }
        catch (Exception e) when (e is not RpcException) { throw Map(e, context); }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try { await continuation(request, responseStream, context); }
        catch (Exception e) when (e is not RpcException) { throw Map(e, context); }
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try { await continuation(requestStream, responseStream, context); }
        catch (Exception e) when (e is not RpcException) { throw Map(e, context); }
    }

    RpcException Map(Exception e, ServerCallContext context)
    {
        var status = ToStatus(e, context.CancellationToken.IsCancellationRequested);
        // Past the call's deadline (the client's, or ConceptSuite:MaxCallSeconds) whatever the
        // handler was doing fails as the deadline's consequence (reading an aborted request stream
        // included): the caller learns which limit ended the call.
        if (status.StatusCode is StatusCode.Internal or StatusCode.Cancelled && context.Deadline <= DateTime.UtcNow)
            status = new Status(StatusCode.DeadlineExceeded, "the call ran past its deadline (the client's, or at most ConceptSuite:MaxCallSeconds)");
        if (status.StatusCode == StatusCode.Internal)
        {
            var id = Guid.NewGuid().ToString("N")[..12];
            logger.LogError(e, "{Method} failed (error id {ErrorId})", context.Method, id);
            status = new Status(StatusCode.Internal, $"internal error (error id {id})");
        }
        else
        {
            logger.LogInformation("{Method} -> {Code}: {Detail}", context.Method, status.StatusCode, status.Detail);
        }
        return new RpcException(status);
    }

    /// <summary>The status an exception maps to (INTERNAL for anything unexpected).</summary>
    public static Status ToStatus(Exception e, bool callCancelled = false) => e switch
    {
        RpcException r => r.Status,
        InvalidInputException => new Status(StatusCode.InvalidArgument, e.Message),
        NotFoundException => new Status(StatusCode.NotFound, e.Message),
        ResourceExhaustedException => new Status(StatusCode.ResourceExhausted, e.Message),
        OperationCanceledException when callCancelled => new Status(StatusCode.Cancelled, "call cancelled"),
        OperationCanceledException => new Status(StatusCode.DeadlineExceeded, "operation timed out"),
        ArgumentException => new Status(StatusCode.InvalidArgument, e.Message),
        InvalidDataException => new Status(StatusCode.InvalidArgument, e.Message),
        OutOfMemoryException => new Status(StatusCode.ResourceExhausted, "out of memory"),
        _ => new Status(StatusCode.Internal, e.Message),
    };
}
