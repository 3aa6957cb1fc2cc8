using System.Net;
using System.Net.Sockets;
using ConceptSuite.Tests.Infrastructure;
using Grpc.Core;
using Grpc.Health.V1;

namespace ConceptSuite.Tests.Deploy;

/// <summary>
/// Starts the real server binary (services/Server build output, <c>dotnet conceptsuite-server.dll</c>)
/// the way a container does, with the rendered ConfigMap's settings and only the listen addresses
/// and data directory moved to loopback and a temporary folder, and checks what the deployments
/// rely on: health answers SERVING for exactly the stage the container runs, the container
/// health probe (<c>--probe</c>) agrees, and /metrics carries the series the autoscaler reads.
/// A stage the manifests name but this build's StageCatalog lacks must be refused by the binary
/// (it becomes a served stage, and is checked as one, when it lands in the catalog).
/// </summary>
public class ServerBinaryHealthTests
{
    static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task EachSingleStageServesHealthForExactlyThatStage()
    {
        var env = ManifestEnvironment();
        var stages = DeployAssets.AllStages;
        // Start every stage's server at once (each is its own process), then check each.
        var servers = new List<ServerProcess>();
        try
        {
            foreach (var stage in stages.Where(DeployAssets.CatalogStages.Contains))
                servers.Add(Launch(["--stages", stage], env));
            foreach (var stage in stages.Where(s => !DeployAssets.CatalogStages.Contains(s)))
            {
                using var refused = Launch(["--stages", stage], env);
                Assert.True(refused.WaitForExit(30), $"--stages {stage} (not in the catalog) did not exit");
                Assert.Equal(2, refused.Process.ExitCode);
                Assert.Contains($"unknown stage '{stage}'", refused.Output);
            }
            foreach (var server in servers)
            {
                var stage = server.Args[1];
                var health = await server.WaitServingAsync(timeout: StartTimeout);
                foreach (var other in stages)
                {
                    var expected = other == stage ? "Serving" : "NOT_FOUND";
                    Assert.True(expected == await StatusAsync(health, other), $"--stages {stage}: health of {other}");
                    Assert.True(expected == await StatusAsync(health, DeployAssets.SuiteStages.GetValueOrDefault(other, other)), $"--stages {stage}: health of {other}'s service");
                }
                using var http = new HttpClient();
                var scrape = await http.GetStringAsync(server.MetricsUrl + "/metrics");
                Assert.Contains(scrape.Split('\n'), l => l.StartsWith(DeployAssets.InFlightSeries + "{") && l.Contains($"stage=\"{stage}\"") && l.TrimEnd().EndsWith(" 0"));
            }
        }
        finally
        {
            foreach (var s in servers) s.Dispose();
        }
    }

    [Fact]
    public async Task ProbeModeExitsZeroOnlyForServedStages()
    {
        using var server = Launch(["--stages", "all"], ManifestEnvironment());
        await server.WaitServingAsync(timeout: StartTimeout);
        var listen = new[] { "--listen", server.Address };
        // No stage named: the whole server's health, as the image's HEALTHCHECK asks.
        var overall = await ProbeAsync(listen);
        Assert.True(overall.Code == 0, overall.Output);
        Assert.Contains("(server): Serving", overall.Output);
        var core = await ProbeAsync([.. listen, "--stages", "core"]);
        Assert.True(core.Code == 0, core.Output);
        var missing = await ProbeAsync([.. listen, "--stages", "no-such-stage"]);
        Assert.True(missing.Code == 1, missing.Output);
        Assert.Contains("no-such-stage: NotFound", missing.Output);
        if (DeployAssets.CatalogStages.Count > 0)
        {
            var all = await ProbeAsync([.. listen, "--stages", string.Join(",", DeployAssets.CatalogStages)]);
            Assert.True(all.Code == 0, all.Output);
        }
        // Wildcard listen addresses (containers) are probed on loopback, through the environment.
        var port = new Uri(server.Address).Port;
        var viaEnv = await ProbeAsync([], ("ConceptSuite__Listen__Grpc", $"http://0.0.0.0:{port}"));
        Assert.True(viaEnv.Code == 0, viaEnv.Output);
        server.Dispose();
        var down = await ProbeAsync(listen);
        Assert.True(down.Code == 1, down.Output);
        Assert.Contains("Unavailable", down.Output);
    }

    [Fact]
    public async Task AListenPortAlreadyTakenExitsWithCode3NamingTheAddress()
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var address = $"http://127.0.0.1:{((IPEndPoint)holder.LocalEndpoint).Port}";
        var dataDir = Path.Combine(Path.GetTempPath(), "cs-deploy-" + Guid.NewGuid().ToString("N"));
        using var server = Launch(["--stages", "discovery", "--data-dir", dataDir, "--listen", address, "--metrics", ""],
            new Dictionary<string, string?>(), listenArgs: false);
        Assert.True(await Task.Run(() => server.WaitForExit(60)), "the server did not exit");
        Assert.Equal(ServerProcess.PortTaken, server.Process.ExitCode);
        Assert.Contains($"Failed to bind to address {address}: address already in use.", server.Output);
        try { Directory.Delete(dataDir, true); } catch (DirectoryNotFoundException) { }
    }

    static async Task<string> StatusAsync(Health.HealthClient client, string service)
    {
        try { return (await client.CheckAsync(new HealthCheckRequest { Service = service }, deadline: DateTime.UtcNow.AddSeconds(10))).Status.ToString(); }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound) { return "NOT_FOUND"; }
    }

    static async Task<(int Code, string Output)> ProbeAsync(string[] args, params (string Key, string Value)[] env)
    {
        using var p = Launch(["--probe", .. args], env.ToDictionary(e => e.Key, e => (string?)e.Value), listenArgs: false);
        var exited = await Task.Run(() => p.WaitForExit(30));
        Assert.True(exited, "--probe did not exit within 30 s");
        return (p.Process.ExitCode, p.Output);
    }

    /// <summary>The cpu overlay's ConfigMap, without the settings a test must move (listen addresses, data directory).</summary>
    static Dictionary<string, string?> ManifestEnvironment()
    {
        var configMap = DeployAssets.RenderOverlay("cpu").Single(r => r.Str("kind") == "ConfigMap");
        return configMap.Map("data")
            .Where(kv => !kv.Key.StartsWith("ConceptSuite__Listen__", StringComparison.Ordinal) && kv.Key != "ConceptSuite__DataDir")
            .ToDictionary(kv => kv.Key, kv => kv.Value);
    }

    static ServerProcess Launch(string[] args, IReadOnlyDictionary<string, string?> env, bool listenArgs = true) =>
        ServerProcess.Launch(args, env, listenArgs: listenArgs, dll: ServerProcess.ServerOutputDll);
}
