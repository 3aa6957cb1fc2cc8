using System.Net.Http;
using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Net.Client.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace ConceptSuite.Client;

/// <summary>
/// Channels to ConceptSuite servers with sane limits: explicit message sizes, large HTTP/2
/// windows, keep-alive pings, a retry policy for UNAVAILABLE on unary calls (all of the suite's
/// unary calls are idempotent), and round-robin balancing for "dns:///host:port" addresses that
/// resolve to several stage replicas.
/// </summary>
public static class SuiteChannel
{
    /// <summary>The HTTP/2 handler a channel gets when the options name none: flow-control window, keep-alive pings, several connections.</summary>
    public static SocketsHttpHandler CreateHandler(SuiteChannelOptions? options = null)
    {
        var o = options ?? new SuiteChannelOptions();
        return new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            InitialHttp2StreamWindowSize = o.StreamWindowBytes,
            KeepAlivePingDelay = TimeSpan.FromSeconds(30),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(20),
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
        };
    }

    public static GrpcChannel Create(string address, SuiteChannelOptions? options = null)
    {
        var o = options ?? new SuiteChannelOptions();
        var retry = new MethodConfig
        {
            Names = { MethodName.Default },
            RetryPolicy = new RetryPolicy
            {
                MaxAttempts = Math.Max(2, o.MaxRetryAttempts),
                InitialBackoff = TimeSpan.FromMilliseconds(200),
                MaxBackoff = TimeSpan.FromSeconds(5),
                BackoffMultiplier = 2,
                RetryableStatusCodes = { StatusCode.Unavailable },
            },
        };
        var config = new ServiceConfig { MethodConfigs = { retry } };
        bool dns = address.StartsWith("dns:", StringComparison.OrdinalIgnoreCase);
        if (dns) config.LoadBalancingConfigs.Add(new RoundRobinConfig());

        HttpMessageHandler handler = o.Handler ?? CreateHandler(o);
        var channelOptions = new GrpcChannelOptions
        {
            MaxReceiveMessageSize = o.MaxMessageBytes,
            MaxSendMessageSize = o.MaxMessageBytes,
            ServiceConfig = config,
            HttpHandler = handler,
            DisposeHttpClient = true,
        };
        if (dns)
        {
            // Re-resolve periodically so replicas added by an autoscaler get traffic from an
            // already-connected client, not only after a connection fails.
            var services = new Microsoft.Extensions.DependencyInjection.ServiceCollection();
            services.AddSingleton<Grpc.Net.Client.Balancer.ResolverFactory>(new Grpc.Net.Client.Balancer.DnsResolverFactory(o.DnsRefreshInterval));
            channelOptions.ServiceProvider = services.BuildServiceProvider();
        }
        if (!string.IsNullOrEmpty(o.ApiKey))
        {
            var key = o.ApiKey;
            var creds = CallCredentials.FromInterceptor((_, metadata) => { metadata.Add("x-api-key", key); return Task.CompletedTask; });
            channelOptions.Credentials = address.StartsWith("https", StringComparison.OrdinalIgnoreCase)
                ? ChannelCredentials.Create(ChannelCredentials.SecureSsl, creds)
                : ChannelCredentials.Create(ChannelCredentials.Insecure, creds);
            channelOptions.UnsafeUseInsecureChannelCallCredentials = true;
        }
        return GrpcChannel.ForAddress(address, channelOptions);
    }
}
