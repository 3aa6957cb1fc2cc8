using System.Net.Http;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using ConceptSuite.Contracts;
using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Net.Client.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace ConceptSuite.Client;

/// <summary>
/// Channels to ConceptSuite servers with sane limits: explicit message sizes, large HTTP/2
/// windows, keep-alive pings, a retry policy for UNAVAILABLE on unary calls (all of the suite's
/// unary calls are idempotent) and on calls that do not stream tensors to the server
/// (<see cref="SuiteChannelOptions.RetryTensorStreams"/>), and round-robin balancing for "dns:///host:port" addresses that
/// resolve to several stage replicas.
/// </summary>
public static class SuiteChannel
{
    /// <summary>The HTTP/2 handler a channel gets when the options name none: flow-control window, keep-alive pings, several connections.</summary>
    public static SocketsHttpHandler CreateHandler(SuiteChannelOptions? options = null)
    {
        var o = options ?? new SuiteChannelOptions();
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            InitialHttp2StreamWindowSize = o.StreamWindowBytes,
            KeepAlivePingDelay = TimeSpan.FromSeconds(30),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(20),
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
        };
        if (o.PinnedCertificate is { } pinned)
            handler.SslOptions.RemoteCertificateValidationCallback = (_, cert, _, _) =>
                cert is not null && cert.GetCertHash().AsSpan().SequenceEqual(pinned.GetCertHash());
        else if (!string.IsNullOrEmpty(o.CaBundlePath))
            handler.SslOptions.RemoteCertificateValidationCallback = TrustBundle(o.CaBundlePath);
        return handler;
    }

    /// <summary>
    /// Validation against the CAs of a PEM bundle only: the chain must end in one of them and the
    /// certificate must name the host dialled (the name check of the platform's own validation).
    /// </summary>
    static System.Net.Security.RemoteCertificateValidationCallback TrustBundle(string path)
    {
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(path);
        if (roots.Count == 0) throw new ArgumentException($"CA bundle {path} holds no PEM certificate");
        return (_, cert, _, errors) =>
        {
            if (cert is null || (errors & (SslPolicyErrors.RemoteCertificateNotAvailable | SslPolicyErrors.RemoteCertificateNameMismatch)) != 0) return false;
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(roots);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(cert as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(cert.GetRawCertData()));
        };
    }

    /// <summary>True when a channel to <paramref name="address"/> with these options uses TLS.</summary>
    public static bool UsesTls(string address, SuiteChannelOptions o) =>
        o.Tls ?? address.StartsWith("https:", StringComparison.OrdinalIgnoreCase);

    public static GrpcChannel Create(string address, SuiteChannelOptions? options = null)
    {
        var o = options ?? new SuiteChannelOptions();
        bool tls = UsesTls(address, o);
        if (tls && address.StartsWith("http:", StringComparison.OrdinalIgnoreCase)) address = "https:" + address["http:".Length..];
        if (!tls && address.StartsWith("https:", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"{address}: an https address with TLS turned off");
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
        if (!o.RetryTensorStreams)
        {
            // Named methods take their own config over the default one: these have no retry policy.
            var streams = new MethodConfig();
            foreach (var (service, method) in TensorBlocks.RequestStreamMethods) streams.Names.Add(new MethodName { Service = service, Method = method });
            config.MethodConfigs.Add(streams);
        }
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
        // The transport's credentials decide TLS for "dns:///" addresses (they have no scheme of their own).
        var transport = tls ? ChannelCredentials.SecureSsl : ChannelCredentials.Insecure;
        channelOptions.Credentials = transport;
        if (!string.IsNullOrEmpty(o.ApiKey))
        {
            var key = o.ApiKey;
            var creds = CallCredentials.FromInterceptor((_, metadata) => { metadata.Add("x-api-key", key); return Task.CompletedTask; });
            channelOptions.Credentials = ChannelCredentials.Create(transport, creds);
            // A key over plaintext is the operator's choice (loopback, or a network they trust).
            channelOptions.UnsafeUseInsecureChannelCallCredentials = !tls;
        }
        return GrpcChannel.ForAddress(address, channelOptions);
    }
}
