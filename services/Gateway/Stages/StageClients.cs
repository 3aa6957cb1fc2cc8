using System.Collections.Concurrent;
using ConceptSuite.Client;
using System.Security.Cryptography.X509Certificates;
using ConceptSuite.Core.Hosting;
using ConceptSuite.Core.Security;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace ConceptSuite.Gateway.Stages;

/// <summary>
/// The gateway's only way to a stage: one gRPC channel per stage address (made with
/// <see cref="SuiteChannel"/>, so the retry policy for idempotent unary calls and round-robin over
/// "dns:///" replicas come with it) and one Polly pipeline per stage (readiness wait, step-level
/// retry of streamed calls, a circuit breaker, a timeout per attempt: <see cref="ExecuteStepAsync"/>). A stage with no configured address
/// is reached at the gateway's own listening address: one process and a cluster take the same path.
/// </summary>
public sealed class StageClients : IDisposable
{
    /// <summary>The pseudo-stage of the shared artifact store.</summary>
    public const string Store = "store";

    readonly GatewayOptions _options;
    readonly SecurityOptions _security;
    readonly LocalPeerKey _localKey;
    readonly X509Certificate2? _ownCertificate;
    readonly string _self;
    readonly ConcurrentDictionary<string, GrpcChannel> _channels = new();
    readonly ConcurrentDictionary<string, ResiliencePipeline> _pipelines = new();
    readonly ConcurrentDictionary<string, ResiliencePipeline> _readiness = new();

    public StageClients(IOptions<GatewayOptions> options, IOptions<ListenOptions> listen, IOptions<SecurityOptions> security, LocalPeerKey localKey)
    {
        _options = options.Value;
        _security = security.Value;
        _localKey = localKey;
        _ownCertificate = ServerCertificate.Load(listen.Value);
        _self = SelfAddress(listen.Value.Grpc);
    }

    /// <summary>
    /// Handler for calls to the gateway's own process instead of sockets (an in-memory test
    /// server); set before the first call.
    /// </summary>
    public Func<HttpMessageHandler>? SelfHandler { get; set; }

    static string SelfAddress(string listen)
    {
        var u = new Uri(listen.Replace("://*:", "://0.0.0.0:").Replace("://+:", "://0.0.0.0:"));
        var host = u.Host is "0.0.0.0" or "[::]" ? "127.0.0.1" : u.Host;
        return $"{u.Scheme}://{host}:{u.Port}";
    }

    /// <summary>Where a stage is reached (its configured address, or the gateway's own).</summary>
    public string AddressOf(string stage) =>
        _options.Endpoints.TryGetValue(stage, out var a) && !string.IsNullOrWhiteSpace(a) ? a.Trim() : _self;

    /// <summary>Stages with an address of their own in configuration.</summary>
    public IEnumerable<string> ConfiguredStages => _options.Endpoints.Where(kv => !string.IsNullOrWhiteSpace(kv.Value)).Select(kv => kv.Key);

    bool IsSelf(string stage) => AddressOf(stage) == _self;

    public GrpcChannel Channel(string stage)
    {
        var address = AddressOf(stage);
        bool isSelf = IsSelf(stage), inMemory = isSelf && SelfHandler is not null;
        return _channels.GetOrAdd(inMemory ? "(self)" : address, _ =>
        {
            if (inMemory) return SuiteChannel.Create("http://localhost", new SuiteChannelOptions { ApiKey = _localKey.Value, Handler = SelfHandler!() });
            // The gateway's own process: its own random key, and TLS pinned to its own certificate
            // (which need not name the loopback address).
            if (isSelf)
                return SuiteChannel.Create(address, new SuiteChannelOptions { ApiKey = _localKey.Value, Tls = _ownCertificate is not null, PinnedCertificate = _ownCertificate });
            var key = string.IsNullOrEmpty(_options.StageApiKey) ? _security.StageKeys.FirstOrDefault(k => !string.IsNullOrEmpty(k)) : _options.StageApiKey;
            return SuiteChannel.Create(address, new SuiteChannelOptions
            {
                ApiKey = string.IsNullOrEmpty(key) ? null : key,
                Tls = _options.StageTls ?? (_ownCertificate is not null || address.StartsWith("https:", StringComparison.OrdinalIgnoreCase)),
                CaBundlePath = string.IsNullOrEmpty(_security.CaBundlePath) ? null : _security.CaBundlePath,
            });
        });
    }

    /// <summary>
    /// Calls to a stage: its channel, with the shared-memory path (<see cref="SharedMemoryLink"/>)
    /// on request streams when <see cref="GatewayOptions.SharedMemory"/> is on. Whether a stage
    /// shares this host is found at the first large block (its regions' boot id and path); a stage
    /// elsewhere gets the bytes inline. Answers parse large tensor payloads into pooled buffers
    /// (<see cref="PooledReceiveInvoker"/>).
    /// </summary>
    public CallInvoker Invoker(string stage)
    {
        var channel = Channel(stage);
        bool shared = _options.SharedMemory && !(IsSelf(stage) && SelfHandler is not null);
        return _invokers.GetOrAdd(channel, c => new PooledReceiveInvoker(shared
            ? c.Intercept(_links.GetOrAdd(c, k => new SharedMemoryLink(k.CreateCallInvoker())).Interceptor)
            : c.CreateCallInvoker()));
    }

    readonly ConcurrentDictionary<GrpcChannel, CallInvoker> _invokers = new();
    readonly ConcurrentDictionary<GrpcChannel, SharedMemoryLink> _links = new();

    static readonly ResiliencePropertyKey<bool> ContentKeyed = new("conceptsuite.content_keyed");
    static readonly ResiliencePropertyKey<bool> InternalRetried = new("conceptsuite.internal_retried");

    /// <summary>
    /// Runs one workflow step against <paramref name="stage"/> through its pipeline. Each attempt
    /// first waits for the stage to report SERVING (when <paramref name="probe"/>; backoff with
    /// jitter for up to ReadinessWaitSeconds, so a restarting stage delays the step instead of
    /// failing it), then calls <paramref name="attempt"/>. What is retried follows
    /// <see cref="StepFailures"/>: transient failures up to StepRetries times with jittered
    /// exponential backoff; INTERNAL once, and only for a <paramref name="contentKeyed"/> step (its
    /// key and outputs derive from its inputs alone, so a second attempt resumes or reuses the
    /// first); permanent errors never.
    /// </summary>
    public async Task<T> ExecuteStepAsync<T>(string stage, bool probe, bool contentKeyed, Func<CancellationToken, Task<T>> attempt, CancellationToken ct)
    {
        var context = ResilienceContextPool.Shared.Get(ct);
        context.Properties.Set(ContentKeyed, contentKeyed);
        try
        {
            return await Pipeline(stage).ExecuteAsync(async c =>
            {
                if (probe) await Readiness(stage).ExecuteAsync(async t => await ProbeAsync(stage, t), c.CancellationToken);
                return await attempt(c.CancellationToken);
            }, context);
        }
        finally { ResilienceContextPool.Shared.Return(context); }
    }

    /// <summary>
    /// The stage's pipeline: retry (streamed steps are retried whole, which is safe because steps
    /// are idempotent) → circuit breaker (shared by every call to the stage; it counts transient
    /// failures only, so a run of bad requests never opens it) → timeout per attempt.
    /// </summary>
    ResiliencePipeline Pipeline(string stage) => _pipelines.GetOrAdd(stage, s =>
    {
        var builder = new ResiliencePipelineBuilder();
        if (_options.StepRetries > 0)
            builder.AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = a => ValueTask.FromResult(a.Outcome.Exception is { } e && ShouldRetry(StepFailures.Classify(e), a.Context)),
                MaxRetryAttempts = _options.StepRetries,
                Delay = TimeSpan.FromSeconds(Math.Max(0.01, _options.RetryDelaySeconds)),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                OnRetry = a =>
                {
                    if (a.Outcome.Exception is { } e && StepFailures.Classify(e) == StepFailure.Internal) a.Context.Properties.Set(InternalRetried, true);
                    Retried?.Invoke(s, a.AttemptNumber + 2, a.Outcome.Exception);
                    return ValueTask.CompletedTask;
                },
            });
        return builder
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                ShouldHandle = a => ValueTask.FromResult(a.Outcome.Exception is { } e && StepFailures.Classify(e) == StepFailure.Transient),
                FailureRatio = _options.BreakerFailureRatio,
                MinimumThroughput = Math.Max(2, _options.BreakerMinimumCalls),
                SamplingDuration = TimeSpan.FromSeconds(60),
                BreakDuration = TimeSpan.FromSeconds(Math.Max(0.5, _options.BreakerBreakSeconds)),
            })
            .AddTimeout(TimeSpan.FromSeconds(Math.Max(1, _options.StepTimeoutSeconds)))
            .Build();
    });

    static bool ShouldRetry(StepFailure failure, ResilienceContext context) => failure switch
    {
        StepFailure.Transient => true,
        StepFailure.Internal => context.Properties.GetValue(ContentKeyed, false) && !context.Properties.GetValue(InternalRetried, false),
        _ => false,
    };

    /// <summary>
    /// The readiness wait: health probes until the stage serves, with exponential backoff and jitter
    /// (first delay 0.25 s, at most 2 s between probes), for about ReadinessWaitSeconds in all.
    /// </summary>
    ResiliencePipeline Readiness(string stage) => _readiness.GetOrAdd(stage, _ =>
    {
        int probes = ReadinessRetries(Math.Max(0, _options.ReadinessWaitSeconds), 0.25, 2.0);
        if (probes == 0) return ResiliencePipeline.Empty;
        return new ResiliencePipelineBuilder().AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<StageUnavailableException>(e => e.Transient),
            MaxRetryAttempts = probes,
            Delay = TimeSpan.FromSeconds(0.25),
            MaxDelay = TimeSpan.FromSeconds(2),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
        }).Build();
    });

    /// <summary>Retries whose nominal delays (first, doubling, capped at max) add up to at least wait seconds.</summary>
    public static int ReadinessRetries(double wait, double first, double max)
    {
        int n = 0;
        for (double total = 0, d = first; total < wait; n++, d = Math.Min(max, d * 2)) total += d;
        return n;
    }

    /// <summary>Called before a retry: stage, next attempt number (2, 3, ...), what failed.</summary>
    public event Action<string, int, Exception?>? Retried;

    /// <summary>
    /// Checks that <paramref name="stage"/> is served where it is configured (gRPC health, service
    /// name = stage name). Throws <see cref="StageUnavailableException"/> with an actionable message.
    /// </summary>
    async Task ProbeAsync(string stage, CancellationToken ct)
    {
        var client = new Health.HealthClient(Channel(stage));
        var deadline = DateTime.UtcNow.AddSeconds(Math.Max(0.5, _options.ProbeTimeoutSeconds));
        HealthCheckResponse r;
        try
        {
            r = await client.CheckAsync(new HealthCheckRequest { Service = stage }, deadline: deadline, cancellationToken: ct);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            throw new StageUnavailableException(stage, AddressOf(stage), "the server there does not run this stage (start it with --stages including it, or set ConceptSuite:Gateway:Endpoints:" + stage + ")", transient: false);
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Internal or StatusCode.Unknown)
        {
            throw new StageUnavailableException(stage, AddressOf(stage), $"unreachable ({e.StatusCode}: {e.Status.Detail})");
        }
        if (r.Status != HealthCheckResponse.Types.ServingStatus.Serving)
            throw new StageUnavailableException(stage, AddressOf(stage), $"health status is {r.Status}");
    }

    public void Dispose()
    {
        // Regions are released while the channels still work (a stage would otherwise keep them until their leases end).
        foreach (var l in _links.Values) l.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5));
        _links.Clear();
        foreach (var c in _channels.Values) c.Dispose();
        _channels.Clear();
    }
}
