using System.Diagnostics;
using System.Text;
using ConceptSuite.Client;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace ConceptSuite.Tests.Infrastructure;

/// <summary>
/// The real server binary (<c>dotnet conceptsuite-server.dll</c>) as a child process, its output
/// captured. By default it listens on free loopback ports (gRPC, and metrics unless turned off)
/// with a data directory of its own, deleted on dispose; dispose kills the whole process tree.
/// </summary>
public sealed class ServerProcess : IDisposable
{
    /// <summary>The server's exit code when a listen address is taken.</summary>
    public const int PortTaken = 3;

    /// <summary>How long <see cref="WaitServingAsync"/> waits by default.</summary>
    public static readonly TimeSpan DefaultStartTimeout = TimeSpan.FromSeconds(90);

    readonly StringBuilder _output = new();
    readonly string _dll;
    readonly string _dataDir;
    readonly bool _ownsDataDir;
    readonly IReadOnlyDictionary<string, string?>? _env;
    readonly bool _listenArgs;
    readonly bool _metrics;
    readonly SuiteChannelOptions? _client;
    GrpcChannel? _channel;
    int _launches;
    bool _disposed;

    ServerProcess(string[] args, IReadOnlyDictionary<string, string?>? env, string? dataDir, bool listenArgs, bool metrics, string? dll, SuiteChannelOptions? client)
    {
        Args = args; _env = env; _listenArgs = listenArgs; _metrics = metrics; _client = client;
        _dll = dll ?? TestOutputDll;
        _ownsDataDir = dataDir is null;
        _dataDir = dataDir ?? Path.Combine(Path.GetTempPath(), "cs-server-" + Guid.NewGuid().ToString("N"));
    }

    public Process Process { get; private set; } = null!;
    /// <summary>The arguments before the listen arguments (e.g. ["--stages", "discovery"]).</summary>
    public string[] Args { get; }
    /// <summary>The gRPC address, e.g. http://127.0.0.1:PORT.</summary>
    public string Address { get; private set; } = "";
    /// <summary>The metrics address; empty when metrics are off.</summary>
    public string MetricsUrl { get; private set; } = "";
    public string Output { get { lock (_output) return _output.ToString(); } }
    public bool HasExited => Process.HasExited;
    /// <summary>A suite channel to <see cref="Address"/> (with the launch's client options: TLS, key).</summary>
    public GrpcChannel Channel => _channel ??= SuiteChannel.Create(Address, _client);

    /// <summary>The server binary copied into the test output.</summary>
    public static string TestOutputDll => Path.Combine(AppContext.BaseDirectory, "conceptsuite-server.dll");

    /// <summary>services/Server's own build output of the same configuration and framework as this test assembly.</summary>
    public static string ServerOutputDll
    {
        get
        {
            var tfmDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            return Path.Combine(Deploy.DeployAssets.RepoRoot, "services", "Server", "bin", tfmDir.Parent!.Name, tfmDir.Name, "conceptsuite-server.dll");
        }
    }

    /// <summary>
    /// Starts the binary with <paramref name="args"/>. With <paramref name="listenArgs"/> it adds
    /// --data-dir, --listen and --metrics on loopback ports that were free a moment ago. Variables
    /// in <paramref name="env"/> replace every inherited ConceptSuite__ variable. <paramref name="client"/>
    /// configures <see cref="Channel"/> (TLS for a server given a certificate).
    /// </summary>
    public static ServerProcess Launch(string[] args, IReadOnlyDictionary<string, string?>? env = null, string? dataDir = null,
        bool listenArgs = true, bool metrics = true, string? dll = null, SuiteChannelOptions? client = null)
    {
        var server = new ServerProcess(args, env, dataDir, listenArgs, metrics, dll, client);
        if (!File.Exists(server._dll)) throw new FileNotFoundException("server binary missing: build the test project (it builds services/Server)", server._dll);
        server.Start();
        return server;
    }

    /// <summary>Starts <c>--stages <paramref name="stages"/></c> and waits until health answers SERVING for <paramref name="waitFor"/>.</summary>
    public static async Task<ServerProcess> StartAsync(string? dataDir, string stages = "all", string waitFor = "gateway", params string[] extra)
    {
        var server = Launch(["--stages", stages, .. extra], dataDir: dataDir, metrics: false);
        try
        {
            await server.WaitServingAsync(waitFor);
            return server;
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    void Start()
    {
        _launches++;
        lock (_output) _output.Clear();
        _channel?.Dispose();
        _channel = null;
        Address = $"http://127.0.0.1:{Loopback.FreePort()}";
        MetricsUrl = _metrics ? $"http://127.0.0.1:{Loopback.FreePort()}" : "";
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = Path.GetDirectoryName(_dll)!,
        };
        if (_env is not null)
        {
            foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("ConceptSuite__", StringComparison.OrdinalIgnoreCase)).ToList())
                psi.Environment.Remove(key);
            foreach (var (k, v) in _env) psi.Environment[k] = v;
        }
        psi.Environment["DOTNET_gcServer"] = "0";
        psi.ArgumentList.Add(_dll);
        foreach (var a in Args) psi.ArgumentList.Add(a);
        if (_listenArgs)
            foreach (var a in new[] { "--data-dir", _dataDir, "--listen", Address, "--metrics", MetricsUrl }) psi.ArgumentList.Add(a);
        var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        Process = p;
    }

    /// <summary>
    /// Waits until gRPC health answers SERVING for <paramref name="service"/> ("" for the whole
    /// server) and returns a health client. The ports were free a moment before the server binds
    /// them; when another process (an outgoing connection's ephemeral port included) took one
    /// meanwhile, the server exits with <see cref="PortTaken"/> and is started again on fresh
    /// ports (three launches in all).
    /// </summary>
    public async Task<Health.HealthClient> WaitServingAsync(string service = "", TimeSpan? timeout = null)
    {
        var limit = timeout ?? DefaultStartTimeout;
        var sw = Stopwatch.StartNew();
        while (true)
        {
            if (Process.HasExited)
            {
                Process.WaitForExit(); // drains the output readers
                if (Process.ExitCode == PortTaken && _listenArgs && _launches < 3)
                {
                    Process.Dispose();
                    Start();
                    continue;
                }
                throw new InvalidOperationException($"{string.Join(' ', Args)} exited with {Process.ExitCode}:\n{Output}");
            }
            var health = new Health.HealthClient(Channel);
            try
            {
                var r = await health.CheckAsync(new HealthCheckRequest { Service = service }, deadline: DateTime.UtcNow.AddSeconds(5));
                if (r.Status == HealthCheckResponse.Types.ServingStatus.Serving) return health;
            }
            catch (RpcException) { }
            if (sw.Elapsed > limit) throw new TimeoutException($"{string.Join(' ', Args)} at {Address} not serving after {limit.TotalSeconds} s:\n{Output}");
            await Task.Delay(200);
        }
    }

    /// <summary>Waits for the process to exit and for its captured output to be complete.</summary>
    public bool WaitForExit(int seconds)
    {
        if (!Process.WaitForExit(seconds * 1000)) return false;
        Process.WaitForExit(); // drains the asynchronous output readers
        return true;
    }

    /// <summary>Kills the process at once (SIGKILL: no shutdown hooks run), as a crash would.</summary>
    public void Kill()
    {
        if (!Process.HasExited) Process.Kill(entireProcessTree: true);
        Process.WaitForExit(10_000);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _channel?.Dispose();
        try { Kill(); } catch (InvalidOperationException) { }
        Process.Dispose();
        if (_ownsDataDir)
            try { if (Directory.Exists(_dataDir)) Directory.Delete(_dataDir, true); } catch (IOException) { }
    }
}
