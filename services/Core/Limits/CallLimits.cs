using System.Globalization;
using ConceptSuite.Core.Hosting;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace ConceptSuite.Core.Limits;

/// <summary>
/// How long a call may take and how long a request stream may stay silent
/// (<see cref="SuiteOptions.MaxCallSeconds"/>, <see cref="SuiteOptions.IdleStreamSeconds"/>), so a
/// client can hold neither a call slot nor a half-read stream for ever.
/// </summary>
/// <remarks>
/// The maximum duration caps the call's gRPC deadline before Grpc.AspNetCore reads it: a call
/// without a deadline, or with a later one, gets the maximum, and the server's own deadline
/// handling ends it with DEADLINE_EXCEEDED and cancels the handler's token. The idle limit wraps
/// the request stream of client-streaming and duplex calls: a wait of more than the limit for the
/// next message ends the call with DEADLINE_EXCEEDED "request stream: no message for N s".
/// </remarks>
public static class CallLimits
{
    const string TimeoutHeader = "grpc-timeout";

    /// <summary>Adds the middleware that caps every gRPC call's deadline at <see cref="SuiteOptions.MaxCallSeconds"/>.</summary>
    public static IApplicationBuilder UseCallDurationLimit(this IApplicationBuilder app)
    {
        var options = app.ApplicationServices.GetRequiredService<IOptions<SuiteOptions>>().Value;
        if (options.MaxCallSeconds <= 0) return app;
        var max = TimeSpan.FromSeconds(options.MaxCallSeconds);
        return app.Use((context, next) =>
        {
            if (context.Request.ContentType?.StartsWith("application/grpc", StringComparison.Ordinal) == true)
            {
                var asked = ParseTimeout(context.Request.Headers[TimeoutHeader]);
                if (asked is null || asked > max) context.Request.Headers[TimeoutHeader] = FormatTimeout(max);
            }
            return next(context);
        });
    }

    /// <summary>A grpc-timeout header value ("<digits><unit>", unit H M S m u n), or null when absent or malformed.</summary>
    public static TimeSpan? ParseTimeout(string? value)
    {
        if (string.IsNullOrEmpty(value) || value.Length < 2 || value.Length > 9) return null;
        if (!long.TryParse(value.AsSpan(0, value.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n)) return null;
        return value[^1] switch
        {
            'H' => TimeSpan.FromHours(n),
            'M' => TimeSpan.FromMinutes(n),
            'S' => TimeSpan.FromSeconds(n),
            'm' => TimeSpan.FromMilliseconds(n),
            'u' => TimeSpan.FromTicks(n * 10),
            'n' => TimeSpan.FromTicks(n / 100),
            _ => null,
        };
    }

    /// <summary>A grpc-timeout header value for <paramref name="t"/> (at most 8 digits: seconds, else minutes, else hours).</summary>
    public static string FormatTimeout(TimeSpan t)
    {
        long s = (long)Math.Ceiling(t.TotalSeconds);
        if (s < 100_000_000) return s.ToString(CultureInfo.InvariantCulture) + "S";
        long m = (long)Math.Ceiling(t.TotalMinutes);
        return m < 100_000_000 ? m.ToString(CultureInfo.InvariantCulture) + "M" : Math.Min(99_999_999, (long)Math.Ceiling(t.TotalHours)).ToString(CultureInfo.InvariantCulture) + "H";
    }
}

/// <summary>Ends a client-streaming or duplex call whose client sends no message for <see cref="SuiteOptions.IdleStreamSeconds"/> (DEADLINE_EXCEEDED).</summary>
public sealed class IdleStreamInterceptor(IOptions<SuiteOptions> options) : Interceptor
{
    TimeSpan Idle => TimeSpan.FromSeconds(options.Value.IdleStreamSeconds);

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation) =>
        continuation(options.Value.IdleStreamSeconds > 0 ? new IdleLimitedReader<TRequest>(requestStream, Idle) : requestStream, context);

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation) =>
        continuation(options.Value.IdleStreamSeconds > 0 ? new IdleLimitedReader<TRequest>(requestStream, Idle) : requestStream, responseStream, context);

    sealed class IdleLimitedReader<T>(IAsyncStreamReader<T> inner, TimeSpan idle) : IAsyncStreamReader<T>
    {
        public T Current => inner.Current;

        public async Task<bool> MoveNext(CancellationToken cancellationToken)
        {
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            limit.CancelAfter(idle);
            try { return await inner.MoveNext(limit.Token); }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && limit.IsCancellationRequested)
            {
                throw new RpcException(new Status(StatusCode.DeadlineExceeded,
                    $"request stream: no message for {idle.TotalSeconds:0.###} s (ConceptSuite:IdleStreamSeconds)"));
            }
        }
    }
}
