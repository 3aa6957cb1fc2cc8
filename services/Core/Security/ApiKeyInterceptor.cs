using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace ConceptSuite.Core.Security;

/// <summary>
/// Authenticates every gRPC call of the process, whatever stages it runs: when keys are
/// configured (<see cref="SecurityOptions"/>) a call must carry a client key, a stage key or this
/// process's own <see cref="LocalPeerKey"/> in the "x-api-key" header (or "authorization: Bearer
/// KEY"), UNAUTHENTICATED otherwise. Reflection, the Open Inference service and the tensor
/// transport are behind the key like every stage RPC; only gRPC health checking stays open for
/// probes and load balancers. The caller's role (client or peer) is left in the call's
/// <see cref="ServerCallContext.UserState"/> for <see cref="CallerRole"/>.
/// </summary>
public sealed class ApiKeyInterceptor(ApiKeys keys) : Interceptor
{
    public const string Header = ApiKeys.Header;

    void Check(ServerCallContext context)
    {
        if (context.Method.StartsWith("/grpc.health.v1.Health/", StringComparison.Ordinal)) return;
        var role = keys.RoleOf(ApiKeys.Presented(context.RequestHeaders.GetValue(Header), context.RequestHeaders.GetValue("authorization")));
        if (role is null)
            throw new RpcException(new Status(StatusCode.Unauthenticated, $"missing or unknown API key: send it in the '{Header}' metadata header"));
        context.UserState[CallerRole.Key] = role.Value;
    }

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(request, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(requestStream, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(request, responseStream, context);
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(requestStream, responseStream, context);
    }
}
