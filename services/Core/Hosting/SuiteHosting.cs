using System.Net;
using System.Security.Cryptography.X509Certificates;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Errors;
using ConceptSuite.Core.Limits;
using ConceptSuite.Core.Security;
using ConceptSuite.Core.Transport;
using Grpc.AspNetCore.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Grpc.AspNetCore.Server.Model;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using TorchSharp;

namespace ConceptSuite.Core.Hosting;

/// <summary>Where the suite listens (section "ConceptSuite:Listen").</summary>
public sealed class ListenOptions
{
    /// <summary>gRPC endpoint (HTTP/2). Loopback by default; 0.0.0.0 in containers.</summary>
    public string Grpc { get; set; } = "http://127.0.0.1:50051";
    /// <summary>Prometheus scrape endpoint (HTTP/1.1, path /metrics); empty disables it.</summary>
    public string Metrics { get; set; } = "http://127.0.0.1:9464";
    /// <summary>PEM or PFX certificate for TLS on the gRPC endpoint; empty for plaintext h2c.</summary>
    public string CertificatePath { get; set; } = "";
    /// <summary>PEM private key (with a PEM certificate) or PFX password.</summary>
    public string CertificateKeyPath { get; set; } = "";
}

/// <summary>Hosting defaults shared by every stage: one place for limits, errors, health, metrics.</summary>
public static class SuiteHosting
{
    /// <summary>
    /// Registers Core: options, artifact store, job runners, gRPC with the error mapper and
    /// admission control, explicit message limits, health checking, reflection, metrics.
    /// </summary>
    public static IServiceCollection AddSuiteCore(this IServiceCollection services)
    {
        services.AddOptions<SuiteOptions>().BindConfiguration(SuiteOptions.Section)
            .Validate(o => o.MaxMessageBytes >= 1 << 20, "ConceptSuite:MaxMessageBytes must be at least 1 MiB")
            .Validate(o => o.BlockBytes > 0 && o.BlockBytes <= o.MaxMessageBytes / 2, "ConceptSuite:BlockBytes must be in (0, MaxMessageBytes/2]")
            .Validate(o => o.MaxCallBytes >= 0 && o.MaxClasses > 0 && o.MaxDecodedImages > 0, "ConceptSuite:MaxCallBytes must be >= 0, MaxClasses and MaxDecodedImages > 0")
            .Validate(o => o.MaxCallSeconds >= 0 && o.IdleStreamSeconds >= 0, "ConceptSuite:MaxCallSeconds and IdleStreamSeconds must be >= 0 (0: no limit)")
            .Validate(o => o.MaxMetadataJsonBytes > 0, "ConceptSuite:MaxMetadataJsonBytes must be > 0")
            .ValidateOnStart();
        services.AddOptions<ListenOptions>().BindConfiguration(SuiteOptions.Section + ":Listen");
        services.AddOptions<SecurityOptions>().BindConfiguration(SecurityOptions.Section);
        services.AddSingleton<LocalPeerKey>();
        services.AddSingleton<ApiKeys>();
        services.AddSingleton<ApiKeyInterceptor>();
        services.AddOptions<SharedMemoryOptions>().BindConfiguration(SharedMemoryOptions.Section)
            .Validate(o => o.MaxRegionBytes > 0 && o.MaxBytes >= 0 && o.MaxRegionsPerOwner > 0 && o.DefaultLeaseSeconds > 0
                           && o.MaxLeaseSeconds >= o.DefaultLeaseSeconds && o.SweepSeconds > 0, "ConceptSuite:SharedMemory: sizes, counts and leases must be positive")
            .ValidateOnStart();
        services.AddSingleton<SharedRegions>();
        services.AddSingleton<SharedSliceInterceptor>();
        services.AddOptions<StoreOptions>().BindConfiguration(StoreOptions.Section)
            .Validate(o => o.QuotaBytes >= 0 && o.MinFreeBytes >= 0 && o.TemporaryMaxAgeHours >= 0 && o.GcMinAgeMinutes >= 0
                && o.WorkflowRetentionDays >= 0 && o.GcIntervalMinutes >= 0, "ConceptSuite:Store values must be >= 0")
            .ValidateOnStart();
        services.AddSingleton(sp => new ArtifactStore(sp.GetRequiredService<IOptions<SuiteOptions>>().Value.DataDir,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger<ArtifactStore>(), sp.GetRequiredService<IOptions<StoreOptions>>().Value));
        services.AddSingleton<ArtifactGarbageCollector>();
        services.AddHostedService<PeriodicGarbageCollection>();
        services.AddSingleton<JobRunners>();
        services.AddSingleton(sp => RequestBudget.From(sp.GetRequiredService<IOptions<SuiteOptions>>().Value));
        services.AddSingleton<SuiteMetrics>();
        services.AddSingleton<StageServiceNames>();
        services.AddSingleton(sp => DeviceSelector.Resolve(sp.GetRequiredService<IOptions<SuiteOptions>>().Value.Device));
        services.AddGrpc();
        // Grpc.AspNetCore's own binder answers UNKNOWN to an unparseable unary request; this one answers INVALID_ARGUMENT.
        foreach (var d in services.Where(d => d.ServiceType == typeof(IServiceMethodProvider<>)
                     && d.ImplementationType?.Name.StartsWith("BinderServiceMethodProvider", StringComparison.Ordinal) == true).ToList())
            services.Remove(d);
        services.TryAddEnumerable(ServiceDescriptor.Singleton(typeof(IServiceMethodProvider<>), typeof(RequestParsingMethodProvider<>)));
        services.AddSingleton<IConfigureOptions<Grpc.AspNetCore.Server.GrpcServiceOptions>>(sp =>
            new ConfigureOptions<Grpc.AspNetCore.Server.GrpcServiceOptions>(o =>
            {
                var s = sp.GetRequiredService<IOptions<SuiteOptions>>().Value;
                o.MaxReceiveMessageSize = s.MaxMessageBytes;
                o.MaxSendMessageSize = s.MaxMessageBytes;
                o.EnableDetailedErrors = false;
                // Keys first: nothing runs for a caller without one (health excepted).
                o.Interceptors.Add<ApiKeyInterceptor>();
                o.Interceptors.Add<ErrorMappingInterceptor>();
                o.Interceptors.Add<AdmissionInterceptor>();
                o.Interceptors.Add<IdleStreamInterceptor>();
                o.Interceptors.Add<SharedSliceInterceptor>();
            }));
        services.AddGrpcHealthChecks().AddCheck("core", () => HealthCheckResult.Healthy(), ["core"]);
        services.AddGrpcReflection();
        services.AddOpenTelemetry().WithMetrics(m => m
            .AddMeter(SuiteMetrics.MeterName)
            .AddAspNetCoreInstrumentation()
            .AddRuntimeInstrumentation()
            .AddPrometheusExporter());
        return services;
    }

    /// <summary>
    /// Declares a stage: its gRPC services (for admission, metrics and health) and its health
    /// check. gRPC health answers SERVING for each of <paramref name="grpcServices"/> only when
    /// the stage runs in this process.
    /// </summary>
    public static IServiceCollection AddStage(this IServiceCollection services, string stage, params string[] grpcServices)
    {
        services.AddHealthChecks().AddCheck(stage, () => HealthCheckResult.Healthy(), [stage]);
        services.Configure<GrpcHealthChecksOptions>(o =>
        {
            foreach (var s in grpcServices) o.Services.Map(s, r => r.Tags.Contains(stage));
            o.Services.Map(stage, r => r.Tags.Contains(stage));
        });
        services.AddSingleton(new StageDeclaration(stage, grpcServices));
        return services;
    }

    /// <summary>Maps Core's endpoints: health, reflection, tensor transport, artifacts, metrics.</summary>
    public static IEndpointRouteBuilder MapSuiteCore(this IEndpointRouteBuilder endpoints)
    {
        var names = endpoints.ServiceProvider.GetRequiredService<StageServiceNames>();
        foreach (var d in endpoints.ServiceProvider.GetServices<StageDeclaration>())
            foreach (var s in d.GrpcServices) names.Add(d.Stage, s);
        // Resolve the device now, so a bad ConceptSuite:Device fails the start, not the first request.
        endpoints.ServiceProvider.GetRequiredService<torch.Device>();
        var suite = endpoints.ServiceProvider.GetRequiredService<IOptions<SuiteOptions>>().Value;
        ConceptSuite.Contracts.ReceivedBlocks.Enabled = suite.PooledReceive;
        var threads = suite.TorchThreads;
        // The process-wide count: threads that have not run a parallel operation yet take it up (jobs pin theirs).
        torch.set_num_threads(OpenMpThreads.Resolve(threads));
        endpoints.MapGrpcHealthChecksService();
        endpoints.MapGrpcReflectionService();
        endpoints.MapGrpcService<TensorTransportService>();
        endpoints.MapGrpcService<SharedMemoryService>();
        // Created now, not at the first call: its sweep also reclaims regions that crashed processes left.
        endpoints.ServiceProvider.GetRequiredService<SharedRegions>();
        endpoints.MapGrpcService<ArtifactGrpcService>();
        var keys = endpoints.ServiceProvider.GetRequiredService<ApiKeys>();
        endpoints.MapPrometheusScrapingEndpoint("/metrics").Add(b =>
        {
            // The scrape endpoint is behind the same keys (Prometheus sends "authorization: Bearer KEY").
            var next = b.RequestDelegate!;
            b.RequestDelegate = ctx =>
            {
                if (keys.AcceptsForMetrics(ApiKeys.Presented(ctx.Request.Headers[ApiKeys.Header], ctx.Request.Headers.Authorization))) return next(ctx);
                ctx.Response.StatusCode = StatusCodes.Status401Unauthorized;
                ctx.Response.Headers.WWWAuthenticate = "Bearer";
                return Task.CompletedTask;
            };
        });
        return endpoints;
    }

    /// <summary>Kestrel: HTTP/2 gRPC endpoint with large flow-control windows, HTTP/1.1 metrics endpoint.</summary>
    public static WebApplicationBuilder ConfigureSuiteKestrel(this WebApplicationBuilder builder)
    {
        var listen = builder.Configuration.GetSection(SuiteOptions.Section + ":Listen").Get<ListenOptions>() ?? new ListenOptions();
        ListenGuard.Check(builder.Configuration.GetSection(SecurityOptions.Section).Get<SecurityOptions>() ?? new SecurityOptions(), listen.Grpc, listen.Metrics);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = null;
            // Flow-control windows sized for ~1 MiB blocks: the defaults (1 MiB connection,
            // 768 KiB stream) stall a sender after less than one block in flight.
            k.Limits.Http2.InitialConnectionWindowSize = 32 << 20;
            k.Limits.Http2.InitialStreamWindowSize = 16 << 20;
            k.Limits.Http2.MaxFrameSize = (1 << 24) - 1;
            k.Limits.Http2.MaxStreamsPerConnection = 256;
            var grpc = new Uri(listen.Grpc);
            // One certificate for both endpoints: the metrics scrape carries a key too.
            var certificate = ServerCertificate.Load(listen);
            Listen(k, grpc, HttpProtocols.Http2, certificate);
            if (!string.IsNullOrEmpty(listen.Metrics))
            {
                var metrics = new Uri(listen.Metrics);
                if (metrics.Port != grpc.Port) Listen(k, metrics, HttpProtocols.Http1, certificate);
            }
        });
        return builder;
    }

    static void Listen(KestrelServerOptions k, Uri uri, HttpProtocols protocols, X509Certificate2? certificate)
    {
        void Configure(Microsoft.AspNetCore.Server.Kestrel.Core.ListenOptions o)
        {
            o.Protocols = protocols;
            if (certificate is not null) o.UseHttps(certificate);
        }
        switch (uri.Host)
        {
            case "0.0.0.0" or "*" or "+" or "[::]": k.ListenAnyIP(uri.Port, Configure); break;
            case "localhost": k.ListenLocalhost(uri.Port, Configure); break;
            default: k.Listen(IPAddress.Parse(uri.Host.Trim('[', ']')), uri.Port, Configure); break;
        }
    }
}

/// <summary>A stage present in this process and the gRPC services it serves.</summary>
public sealed record StageDeclaration(string Stage, IReadOnlyList<string> GrpcServices);
