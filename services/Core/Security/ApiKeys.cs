using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace ConceptSuite.Core.Security;

/// <summary>
/// The keys this process accepts and the role each grants. Keys are compared in constant time
/// over their SHA-256 digests (every key is compared), so neither content nor length leaks
/// through timing. With no key configured every caller is a peer: without keys a client cannot
/// be told from a stage, which is why such a process listens on loopback unless the operator
/// says <c>--allow-unauthenticated</c>.
/// </summary>
public sealed class ApiKeys
{
    public const string Header = "x-api-key";

    readonly byte[][] _client;
    readonly byte[][] _peer;
    readonly byte[][] _metrics;

    public ApiKeys(IOptions<SecurityOptions> options, LocalPeerKey local)
    {
        var o = options.Value;
        Enabled = o.KeysConfigured;
        _client = o.ApiKeys.Where(k => !string.IsNullOrEmpty(k)).Select(Digest).ToArray();
        _peer = o.StageKeys.Where(k => !string.IsNullOrEmpty(k)).Append(local.Value).Select(Digest).ToArray();
        _metrics = o.MetricsKeys.Where(k => !string.IsNullOrEmpty(k)).Select(Digest).ToArray();
    }

    /// <summary>True when keys are configured: calls without one are refused.</summary>
    public bool Enabled { get; }

    static byte[] Digest(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    static bool Any(byte[][] digests, byte[] d)
    {
        bool ok = false;
        foreach (var k in digests) ok |= CryptographicOperations.FixedTimeEquals(d, k);
        return ok;
    }

    /// <summary>The key a caller presented: the x-api-key header, else an "authorization: Bearer KEY" header.</summary>
    public static string? Presented(string? apiKeyHeader, string? authorization)
    {
        if (!string.IsNullOrEmpty(apiKeyHeader)) return apiKeyHeader;
        const string bearer = "Bearer ";
        return authorization is not null && authorization.StartsWith(bearer, StringComparison.OrdinalIgnoreCase) ? authorization[bearer.Length..].Trim() : null;
    }

    /// <summary>The role <paramref name="presented"/> grants; null when keys are on and it is no key of this process.</summary>
    public Role? RoleOf(string? presented)
    {
        if (!Enabled) return Role.Peer;
        if (string.IsNullOrEmpty(presented)) return null;
        var d = Digest(presented);
        bool peer = Any(_peer, d), client = Any(_client, d);
        return peer ? Role.Peer : client ? Role.Client : null;
    }

    /// <summary>True when <paramref name="presented"/> is accepted (any role).</summary>
    public bool Accepts(string? presented) => RoleOf(presented) is not null;

    /// <summary>True when <paramref name="presented"/> may read the metrics endpoint: any key of the process, or a metrics key.</summary>
    public bool AcceptsForMetrics(string? presented) =>
        Accepts(presented) || !string.IsNullOrEmpty(presented) && Any(_metrics, Digest(presented));
}

/// <summary>What an authenticated caller may do.</summary>
public enum Role
{
    /// <summary>A client: every RPC, uploads of client artifact kinds only.</summary>
    Client,
    /// <summary>The gateway or another stage (a stage key, or this process's own key): stage-produced kinds too.</summary>
    Peer,
}
