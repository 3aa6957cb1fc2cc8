using ConceptSuite.Client;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;

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
                servers.Add(ServerProcess.Start(["--stages", stage], env));
            foreach (var stage in stages.Where(s => !DeployAssets.CatalogStages.Contains(s)))
            {
                using var refused = ServerProcess.Start(["--stages", stage], env);
                Assert.True(refused.WaitForExit(30), $"--stages {stage} (not in the catalog) did not exit");
                Assert.Equal(2, refused.Process.ExitCode);
                Assert.Contains($"unknown stage '{stage}'", refused.Output);
            }
            foreach (var server in servers)
            {
                var stage = server.Args[1];
                var health = await server.WaitServingAsync();
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
        using var server = ServerProcess.Start(["--stages", "all"], ManifestEnvironment());
        await server.WaitServingAsync();
        var listen = new[] { "--listen", server.GrpcUrl };
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
        var port = new Uri(server.GrpcUrl).Port;
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
        using var server = ServerProcess.Start(["--stages", "discovery", "--data-dir", dataDir, "--listen", address, "--metrics", ""],
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
        using var p = ServerProcess.Start(["--probe", .. args], env.ToDictionary(e => e.Key, e => (string?)e.Value), listenArgs: false);
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

    /// <summary>One run of the server binary with its output captured; dispose kills it and removes its data directory.</summary>
    sealed class ServerProcess : IDisposable
    {
        readonly StringBuilder _output = new();
        readonly string _dataDir;
        readonly IReadOnlyDictionary<string, string?> _env;
        readonly bool _listenArgs;
        int _launches;
        /// <summary>The server's exit code when a listen address is taken.</summary>
        public const int PortTaken = 3;
        public Process Process { get; private set; } = null!;
        public string[] Args { get; }
        public string GrpcUrl { get; private set; } = "";
        public string MetricsUrl { get; private set; } = "";
        public string Output { get { lock (_output) return _output.ToString(); } }

        ServerProcess(string[] args, IReadOnlyDictionary<string, string?> env, bool listenArgs)
        {
            Args = args; _env = env; _listenArgs = listenArgs;
            _dataDir = Path.Combine(Path.GetTempPath(), "cs-deploy-" + Guid.NewGuid().ToString("N"));
        }

        public static ServerProcess Start(string[] args, IReadOnlyDictionary<string, string?> env, bool listenArgs = true)
        {
            var server = new ServerProcess(args, env, listenArgs);
            server.Launch();
            return server;
        }

        /// <summary>
        /// Starts the binary on two ports that were free a moment ago. Another process (an outgoing
        /// connection's ephemeral port included) can take one before the server binds it; the server
        /// then exits with <see cref="PortTaken"/>, and <see cref="WaitServingAsync"/> launches again.
        /// </summary>
        void Launch()
        {
            var dll = ServerDll();
            _launches++;
            lock (_output) _output.Clear();
            GrpcUrl = $"http://127.0.0.1:{Loopback.FreePort()}";
            MetricsUrl = $"http://127.0.0.1:{Loopback.FreePort()}";
            var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
            {
                RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetDirectoryName(dll)!,
            };
            foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("ConceptSuite__", StringComparison.OrdinalIgnoreCase)).ToList())
                psi.Environment.Remove(key);
            foreach (var (k, v) in _env) psi.Environment[k] = v;
            psi.ArgumentList.Add(dll);
            foreach (var a in Args) psi.ArgumentList.Add(a);
            if (_listenArgs)
                foreach (var a in new[] { "--data-dir", _dataDir, "--listen", GrpcUrl, "--metrics", MetricsUrl }) psi.ArgumentList.Add(a);
            var p = new Process { StartInfo = psi };
            p.OutputDataReceived += (_, e) => { if (e.Data != null) lock (_output) _output.AppendLine(e.Data); };
            p.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (_output) _output.AppendLine(e.Data); };
            p.Start();
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            Process = p;
        }

        /// <summary>Waits for the process to exit and for its captured output to be complete.</summary>
        public bool WaitForExit(int seconds)
        {
            if (!Process.WaitForExit(seconds * 1000)) return false;
            Process.WaitForExit(); // drains the asynchronous output readers
            return true;
        }

        /// <summary>Waits until the server answers SERVING for "" and returns a health client on it.</summary>
        public async Task<Health.HealthClient> WaitServingAsync()
        {
            var channel = GrpcChannel.ForAddress(GrpcUrl);
            var client = new Health.HealthClient(channel);
            var sw = Stopwatch.StartNew();
            while (true)
            {
                if (Process.HasExited && Process.ExitCode == PortTaken && _launches < 3)
                {
                    Process.Dispose();
                    Launch();
                    channel = GrpcChannel.ForAddress(GrpcUrl);
                    client = new Health.HealthClient(channel);
                    continue;
                }
                Assert.False(Process.HasExited, $"{string.Join(' ', Args)} exited ({(Process.HasExited ? Process.ExitCode : 0)}): {Output}");
                try
                {
                    var r = await client.CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(5));
                    if (r.Status == HealthCheckResponse.Types.ServingStatus.Serving) return client;
                }
                catch (RpcException) when (sw.Elapsed < StartTimeout) { }
                Assert.True(sw.Elapsed < StartTimeout, $"{string.Join(' ', Args)} not serving after {StartTimeout.TotalSeconds} s: {Output}");
                await Task.Delay(200);
            }
        }

        public void Dispose()
        {
            try { if (!Process.HasExited) { Process.Kill(true); Process.WaitForExit(10_000); } }
            catch (InvalidOperationException) { }
            Process.Dispose();
            try { if (Directory.Exists(_dataDir)) Directory.Delete(_dataDir, true); } catch (IOException) { }
        }


        /// <summary>services/Server's build output of the same configuration and framework as this test assembly.</summary>
        static string ServerDll()
        {
            var tfmDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            var configuration = tfmDir.Parent!.Name;
            var dll = Path.Combine(DeployAssets.RepoRoot, "services", "Server", "bin", configuration, tfmDir.Name, "conceptsuite-server.dll");
            Assert.True(File.Exists(dll), $"{dll} is missing: build the test project (it builds services/Server)");
            return dll;
        }
    }
}
