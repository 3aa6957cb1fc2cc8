using ConceptSuite.Core.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace ConceptSuite.Core.Security;

/// <summary>Says at start how the process is protected, and warns where a key would cross the network in the clear.</summary>
public static class SecurityPosture
{
    public static void LogSecurityPosture(this IServiceProvider services, ILogger logger)
    {
        var security = services.GetRequiredService<IOptions<SecurityOptions>>().Value;
        var listen = services.GetRequiredService<IOptions<ListenOptions>>().Value;
        bool tls = !string.IsNullOrEmpty(listen.CertificatePath);
        bool loopback = ListenGuard.IsLoopback(new Uri(listen.Grpc.Replace("://*:", "://0.0.0.0:").Replace("://+:", "://0.0.0.0:")));
        logger.LogInformation("Authentication: {Keys}; TLS: {Tls}",
            security.KeysConfigured ? $"{security.ApiKeys.Count(k => k.Length > 0)} client key(s), {security.StageKeys.Count(k => k.Length > 0)} stage key(s)" : "off",
            tls ? listen.CertificatePath : "off");
        if (security.KeysConfigured && !tls && !loopback)
            logger.LogWarning("API keys are configured but {Address} serves plaintext: keys cross the network in the clear (set ConceptSuite:Listen:CertificatePath)", listen.Grpc);
        if (!security.KeysConfigured && !loopback)
            logger.LogWarning("Serving {Address} without authentication ({Switch}): every caller that reaches it may call every RPC", listen.Grpc, ListenGuard.AllowSwitch);
    }
}
