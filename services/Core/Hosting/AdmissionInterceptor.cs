using System.Collections.Concurrent;
using System.Diagnostics;
using ConceptSuite.Contracts;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Options;

namespace ConceptSuite.Core.Hosting;

/// <summary>
/// Bounds the RPCs in flight per stage (RESOURCE_EXHAUSTED beyond MaxInFlightRequests) and
/// records the in-flight gauge and durations. A stage is known by its gRPC service name, which
/// stages register with <see cref="StageServiceNames"/>; infrastructure services (health,
/// reflection) are not counted.
/// </summary>
public sealed class AdmissionInterceptor(IOptions<SuiteOptions> options, SuiteMetrics metrics, StageServiceNames names) : Interceptor
{
    readonly ConcurrentDictionary<string, int[]> _counts = new();
    readonly int _limit = Math.Max(1, options.Value.MaxInFlightRequests);

    async Task<T> Guard<T>(ServerCallContext context, Func<Task<T>> call)
    {
        var stage = names.StageOf(context.Method);
        if (stage is null) return await call();
        var counter = _counts.GetOrAdd(stage, _ => new int[1]);
        var tag = SuiteMetrics.Stage(stage);
        if (Interlocked.Increment(ref counter[0]) > _limit)
        {
            Interlocked.Decrement(ref counter[0]);
            metrics.Rejected.Add(1, tag);
            throw new ResourceExhaustedException($"{stage}: {_limit} requests already in flight; retry later");
        }
        metrics.InFlight.Add(1, tag);
        var sw = Stopwatch.StartNew();
        try { return await call(); }
        finally
        {
            Interlocked.Decrement(ref counter[0]);
            metrics.InFlight.Add(-1, tag);
            metrics.Duration.Record(sw.Elapsed.TotalSeconds, tag, new("method", context.Method));
        }
    }

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation) => Guard(context, () => continuation(request, context));

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation) =>
        Guard(context, () => continuation(requestStream, context));

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation) =>
        Guard(context, async () => { await continuation(request, responseStream, context); return true; });

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation) =>
        Guard(context, async () => { await continuation(requestStream, responseStream, context); return true; });
}

/// <summary>Which gRPC service belongs to which stage (for admission, metrics and health).</summary>
public sealed class StageServiceNames
{
    readonly ConcurrentDictionary<string, string> _serviceToStage = new();

    public void Add(string stage, string grpcServiceFullName) => _serviceToStage[grpcServiceFullName] = stage;

    /// <summary>The stage serving a method path "/package.Service/Method", or null.</summary>
    public string? StageOf(string methodPath)
    {
        var span = methodPath.AsSpan().TrimStart('/');
        int slash = span.IndexOf('/');
        var service = slash < 0 ? span.ToString() : span[..slash].ToString();
        return _serviceToStage.TryGetValue(service, out var s) ? s : null;
    }

    public IEnumerable<string> ServicesOf(string stage) => _serviceToStage.Where(kv => kv.Value == stage).Select(kv => kv.Key);
}
