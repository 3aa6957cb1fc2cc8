namespace ConceptSuite.Gateway;

/// <summary>The gateway's options (section "ConceptSuite:Gateway"; env ConceptSuite__Gateway__...).</summary>
public sealed class GatewayOptions
{
    public const string Section = "ConceptSuite:Gateway";

    /// <summary>
    /// Address of each stage by stage name ("embedding", "discovery", ..., and "store" for the
    /// shared artifact store), e.g. "dns:///discovery:50051" for round-robin over replicas. Empty
    /// or absent: the gateway's own listening address (all stages in one process).
    /// </summary>
    public Dictionary<string, string> Endpoints { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Key the gateway presents to stages at other addresses (one of their
    /// ConceptSuite:Security:StageKeys); empty: the first of this process's own StageKeys. Calls to
    /// the gateway's own process carry its <see cref="Core.Security.LocalPeerKey"/> instead.
    /// </summary>
    public string StageApiKey { get; set; } = "";

    /// <summary>
    /// TLS to stages at other addresses, "dns:///" ones included: true or false; empty: TLS when
    /// this process serves TLS itself (ConceptSuite:Listen:CertificatePath) or the address is https.
    /// The server certificates are checked against ConceptSuite:Security:CaBundlePath when set.
    /// </summary>
    public bool? StageTls { get; set; }

    /// <summary>
    /// Send large tensor blocks to stages on this host through shared memory (tensor.proto,
    /// SharedMemory) instead of inline; stages on other hosts get them inline whatever this says.
    /// </summary>
    public bool SharedMemory { get; set; } = true;

    /// <summary>Upper bound on one step attempt, seconds (the stage call's deadline).</summary>
    public double StepTimeoutSeconds { get; set; } = 3600;

    /// <summary>Deadline of each health probe made before a stage step attempt, seconds.</summary>
    public double ProbeTimeoutSeconds { get; set; } = 5;

    /// <summary>
    /// How long a step attempt waits for its stage to report SERVING (probes with backoff and
    /// jitter) before the attempt fails as unavailable, seconds; 0 probes once.
    /// </summary>
    public double ReadinessWaitSeconds { get; set; } = 20;

    /// <summary>
    /// Step-level retries after a transient failure (UNAVAILABLE, ABORTED, a full stage's
    /// RESOURCE_EXHAUSTED, a stage that stayed unready); one of them may be for INTERNAL when the
    /// step is content-keyed. Invalid requests and size limits are never retried.
    /// </summary>
    public int StepRetries { get; set; } = 2;

    /// <summary>First delay between step attempts, seconds (doubles each time, with jitter).</summary>
    public double RetryDelaySeconds { get; set; } = 1;

    /// <summary>Circuit breaker: failures (of at least <see cref="BreakerMinimumCalls"/>) that open a stage's circuit.</summary>
    public double BreakerFailureRatio { get; set; } = 0.5;

    public int BreakerMinimumCalls { get; set; } = 4;

    /// <summary>Seconds a stage's circuit stays open before a trial call.</summary>
    public double BreakerBreakSeconds { get; set; } = 30;

    /// <summary>On start, continue workflows that were running when the server last stopped.</summary>
    public bool ResumeOnStart { get; set; } = true;

    /// <summary>Workflows running at once; further ones wait.</summary>
    public int MaxConcurrentWorkflows { get; set; } = 2;

    /// <summary>
    /// Workflow state in PostgreSQL (an Npgsql connection string, e.g.
    /// "Host=db;Database=conceptsuite;Username=gateway;Password=..."), shared by gateway replicas on
    /// any number of hosts; empty: SQLite under the data directory (one host).
    /// </summary>
    public string PostgresConnectionString { get; set; } = "";

    /// <summary>
    /// A replica's lease on a workflow it runs, seconds: renewed every third of it; another
    /// replica takes the workflow over only once the lease has expired (its owner stopped
    /// renewing), so after a crash a workflow waits at most this long before it continues.
    /// </summary>
    public double LeaseSeconds { get; set; } = 15;
}
