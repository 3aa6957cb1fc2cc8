using System.Net.Http;

namespace ConceptSuite.Client;

/// <summary>Client-side limits and policies.</summary>
public sealed record SuiteChannelOptions
{
    /// <summary>Largest message sent or received (the server's default is 16 MiB too).</summary>
    public int MaxMessageBytes { get; init; } = 16 << 20;
    /// <summary>HTTP/2 stream window: large enough to keep several 1 MiB blocks in flight.</summary>
    public int StreamWindowBytes { get; init; } = 16 << 20;
    /// <summary>Retry policy for idempotent unary calls (UNAVAILABLE only).</summary>
    public int MaxRetryAttempts { get; init; } = 4;
    /// <summary>
    /// Whether calls that stream tensor blocks to the server (uploads, Encode, Fit, ...) take the
    /// retry policy too. Off by default: a call with a retry policy copies every message it sends
    /// into a replay buffer (one extra copy of the payload), and a tensor stream outgrows that
    /// buffer (1 MB per call) at its first block, after which it is not retried anyway.
    /// </summary>
    public bool RetryTensorStreams { get; init; }
    /// <summary>API key sent as "x-api-key" metadata on every call, when set.</summary>
    public string? ApiKey { get; init; }
    /// <summary>How often "dns:///" addresses are re-resolved to pick up new replicas.</summary>
    public TimeSpan DnsRefreshInterval { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>
    /// TLS for every address form: true encrypts "dns:///" and "http://" addresses too (an
    /// "http://" address is dialled as "https://"); null: TLS only for "https://" addresses.
    /// </summary>
    public bool? Tls { get; init; }
    /// <summary>
    /// PEM file of the certificate authorities trusted for the server's certificate (a private
    /// CA), instead of the system store; the host name is still checked.
    /// </summary>
    public string? CaBundlePath { get; init; }
    /// <summary>
    /// Accept exactly this server certificate (a process calling itself), whatever its name and issuer.
    /// </summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? PinnedCertificate { get; init; }
    /// <summary>Handler to use instead of sockets (in-process test servers).</summary>
    public HttpMessageHandler? Handler { get; init; }
}
