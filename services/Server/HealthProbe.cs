using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace ConceptSuite.Server;

/// <summary>
/// <c>conceptsuite-server --probe [--stages a,b] [--listen url]</c>: asks the gRPC health service
/// of a server on this host whether each named stage is SERVING (the overall "" service when no
/// stage, "all" or "core" is named). Exit 0 when every answer is SERVING, 1 otherwise. Container health
/// checks use it: the image carries no other gRPC client, and Docker's HEALTHCHECK can only run a
/// command. It reads the same switches, environment (ConceptSuite__Listen__Grpc,
/// ConceptSuite__Stages) and appsettings.json as the server, so it probes where the server listens;
/// a wildcard listen address (0.0.0.0, [::], *, +) is probed on loopback. It never loads libtorch.
/// </summary>
public static class HealthProbe
{
    public const string Switch = "--probe";

    /// <summary>How long one probe waits for all answers.</summary>
    static readonly TimeSpan Deadline = TimeSpan.FromSeconds(5);

    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        var config = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
            .AddEnvironmentVariables()
            .AddCommandLine(Core.Security.ListenGuard.Normalize(args.Where(a => a != Switch).ToArray()), SuiteApp.Switches)
            .Build();
        var listen = config["ConceptSuite:Listen:Grpc"];
        if (string.IsNullOrWhiteSpace(listen)) listen = new Core.Hosting.ListenOptions().Grpc;
        var target = ProbeAddress(listen);
        // A server with a certificate serves TLS whatever the listen URL's scheme says.
        if (!string.IsNullOrEmpty(config["ConceptSuite:Listen:CertificatePath"]) && target.Scheme == "http")
            target = new UriBuilder(target) { Scheme = "https", Port = target.Port }.Uri;
        var spec = config["ConceptSuite:Stages"];
        var services = string.IsNullOrWhiteSpace(spec) || spec.Trim() is "all" or "core"
            ? [""]
            : spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => s.ToLowerInvariant()).ToArray();

        using var handler = new SocketsHttpHandler
        {
            ConnectTimeout = Deadline,
            // Loopback only: the server's own certificate is accepted as is (its name is rarely localhost).
            SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
        };
        using var channel = GrpcChannel.ForAddress(target, new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = false });
        var client = new Health.HealthClient(channel);
        var deadline = DateTime.UtcNow + Deadline;
        bool ok = true;
        foreach (var service in services)
        {
            string answer;
            try
            {
                var reply = await client.CheckAsync(new HealthCheckRequest { Service = service }, deadline: deadline);
                answer = reply.Status.ToString();
                ok &= reply.Status == HealthCheckResponse.Types.ServingStatus.Serving;
            }
            catch (RpcException e)
            {
                answer = e.StatusCode.ToString();
                ok = false;
            }
            output.WriteLine($"{target} {(service == "" ? "(server)" : service)}: {answer}");
        }
        return ok ? 0 : 1;
    }

    /// <summary>The listen URL with a wildcard host replaced by loopback.</summary>
    public static Uri ProbeAddress(string listen)
    {
        if (!Uri.TryCreate(listen.Replace("://*:", "://0.0.0.0:").Replace("://+:", "://0.0.0.0:"), UriKind.Absolute, out var uri))
            throw new ArgumentException($"ConceptSuite:Listen:Grpc: '{listen}' is not an absolute URL");
        var host = uri.Host is "0.0.0.0" or "[::]" or "::" ? "127.0.0.1" : uri.Host;
        return new UriBuilder(uri) { Host = host }.Uri;
    }
}
