namespace ConceptSuite.Core.Security;

/// <summary>
/// Who may call this process and how it trusts the processes it calls (section
/// "ConceptSuite:Security"; environment ConceptSuite__Security__ApiKeys__0=..., see SECURITY.md).
/// </summary>
public sealed class SecurityOptions
{
    public const string Section = "ConceptSuite:Security";

    /// <summary>
    /// Client keys accepted in the "x-api-key" header (or "authorization: Bearer KEY"). A caller
    /// with a client key may call every RPC but may not upload artifacts of a stage-produced kind.
    /// </summary>
    public List<string> ApiKeys { get; set; } = [];

    /// <summary>
    /// Peer keys: the keys the gateway and the stages present to each other. A caller with a
    /// stage key may also write stage-produced artifact kinds (the gateway's artifact transfers).
    /// </summary>
    public List<string> StageKeys { get; set; } = [];

    /// <summary>
    /// Keys accepted on the metrics endpoint only (the Prometheus scraper's bearer token), so the
    /// scraper holds no key that could call an RPC.
    /// </summary>
    public List<string> MetricsKeys { get; set; } = [];

    /// <summary>
    /// Serve on a non-loopback address with no key configured (command line
    /// <c>--allow-unauthenticated</c>). Off: such a process refuses to start.
    /// </summary>
    public bool AllowUnauthenticated { get; set; }

    /// <summary>
    /// PEM file of the certificate authorities this process trusts when it calls other suite
    /// processes over TLS (a private CA); empty: the system's trust store.
    /// </summary>
    public string CaBundlePath { get; set; } = "";

    /// <summary>True when at least one client or stage key is configured.</summary>
    public bool KeysConfigured => ApiKeys.Any(k => !string.IsNullOrEmpty(k)) || StageKeys.Any(k => !string.IsNullOrEmpty(k));
}
