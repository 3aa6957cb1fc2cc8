using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Options;

namespace ConceptSuite.Gateway.Security;

/// <summary>
/// API keys: when ConceptSuite:Gateway:ApiKeys is non-empty, every call must carry one of them
/// in the "x-api-key" metadata header (UNAUTHENTICATED otherwise). Keys are compared in constant
/// time over their SHA-256 digests, so neither content nor length leaks through timing. gRPC
/// health checking stays open for probes and load balancers.
/// </summary>
public sealed class ApiKeyInterceptor : Interceptor
{
    public const string Header = "x-api-key";
    readonly byte[][] _digests;

    public ApiKeyInterceptor(IOptions<GatewayOptions> options)
    {
        _digests = options.Value.ApiKeys.Where(k => !string.IsNullOrEmpty(k)).Select(Digest).ToArray();
    }

    static byte[] Digest(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    /// <summary>True when <paramref name="presented"/> equals one of the keys (every key is compared).</summary>
    public bool Accepts(string? presented)
    {
        if (_digests.Length == 0) return true;
        if (string.IsNullOrEmpty(presented)) return false;
        var d = Digest(presented);
        bool ok = false;
        foreach (var k in _digests) ok |= CryptographicOperations.FixedTimeEquals(d, k);
        return ok;
    }

    void Check(ServerCallContext context)
    {
        if (_digests.Length == 0 || context.Method.StartsWith("/grpc.health.v1.Health/", StringComparison.Ordinal)) return;
        if (!Accepts(context.RequestHeaders.GetValue(Header)))
            throw new RpcException(new Status(StatusCode.Unauthenticated, $"missing or unknown API key: send it in the '{Header}' metadata header"));
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
