using System.Net;

namespace ConceptSuite.Core.Security;

/// <summary>
/// Refuses to serve an unauthenticated process beyond this host: a listen address that is not
/// loopback (0.0.0.0, a routable address, a host name) needs a configured key, or the operator's
/// explicit <c>--allow-unauthenticated</c>.
/// </summary>
public static class ListenGuard
{
    /// <summary>The command-line switch (a flag, no value) that allows it.</summary>
    public const string AllowSwitch = "--allow-unauthenticated";

    /// <summary>True for 127.0.0.0/8, ::1 and "localhost".</summary>
    public static bool IsLoopback(Uri address) =>
        address.IsLoopback || IPAddress.TryParse(address.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip);

    /// <summary>Throws <see cref="ArgumentException"/> (exit 2) naming the address and the two ways out.</summary>
    public static void Check(SecurityOptions security, params string[] listenAddresses)
    {
        if (security.KeysConfigured || security.AllowUnauthenticated) return;
        foreach (var a in listenAddresses)
        {
            if (string.IsNullOrWhiteSpace(a)) continue;
            var uri = new Uri(a.Replace("://*:", "://0.0.0.0:").Replace("://+:", "://0.0.0.0:"));
            if (!IsLoopback(uri))
                throw new ArgumentException(
                    $"refusing to listen on {a} without authentication: set ConceptSuite:Security:ApiKeys (and StageKeys between " +
                    $"services), or pass {AllowSwitch} to serve every caller that can reach this address");
        }
    }

    /// <summary>The arguments with the bare flag rewritten as a configuration value.</summary>
    public static string[] Normalize(string[] args) =>
        args.Select(a => a == AllowSwitch ? $"--{SecurityOptions.Section}:AllowUnauthenticated=true" : a).ToArray();
}
