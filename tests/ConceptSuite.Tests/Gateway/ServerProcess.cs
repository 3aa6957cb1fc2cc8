using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ConceptSuite.Client;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace ConceptSuite.Tests.Gateway;

/// <summary>
/// The real server binary (conceptsuite-server.dll from the test output) as a child process on a
/// free loopback port with its own data directory. Dispose kills it (the whole process tree).
/// </summary>
public sealed class ServerProcess : IDisposable
{
    readonly Process _process;
    readonly StringBuilder _log = new();

    ServerProcess(Process p, string address, GrpcChannel channel) { _process = p; Address = address; Channel = channel; }

    public string Address { get; }
    public GrpcChannel Channel { get; }
    public string Log { get { lock (_log) return _log.ToString(); } }
    public bool HasExited => _process.HasExited;


    public static string BinaryPath => Path.Combine(AppContext.BaseDirectory, "conceptsuite-server.dll");

    /// <summary>
    /// Starts the server and waits until gRPC health answers SERVING for <paramref name="waitFor"/>.
    /// The port was free a moment before the server binds it; when another process (an outgoing
    /// connection's ephemeral port included) took it meanwhile, the server exits with code 3 (listen
    /// address taken) and is started again on a fresh port (three tries).
    /// </summary>
    public static async Task<ServerProcess> StartAsync(string dataDir, string stages = "all", string waitFor = "gateway", params string[] extra)
    {
        for (int attempt = 1; ; attempt++)
            if (await StartOnceAsync(dataDir, stages, waitFor, extra, retryIfPortTaken: attempt < 3) is { } server) return server;
    }

    /// <summary>One start; null when the port was taken and <paramref name="retryIfPortTaken"/> allows another try.</summary>
    static async Task<ServerProcess?> StartOnceAsync(string dataDir, string stages, string waitFor, string[] extra, bool retryIfPortTaken)
    {
        if (!File.Exists(BinaryPath)) throw new FileNotFoundException("server binary missing from the test output", BinaryPath);
        int port = Loopback.FreePort();
        var address = $"http://127.0.0.1:{port}";
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = AppContext.BaseDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { BinaryPath, "--stages", stages, "--data-dir", dataDir, "--listen", address, "--metrics", "" }.Concat(extra))
            psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_gcServer"] = "0";
        var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start the server process");
        var channel = SuiteChannel.Create(address);
        var server = new ServerProcess(p, address, channel);
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (server._log) server._log.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (server._log) server._log.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        var health = new Health.HealthClient(channel);
        var until = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            if (p.HasExited)
            {
                p.WaitForExit(); // drains the output readers
                int code = p.ExitCode;
                server.Dispose();
                if (code == 3 && retryIfPortTaken) return null;
                throw new InvalidOperationException($"server exited with {code}:\n{server.Log}");
            }
            try
            {
                var r = await health.CheckAsync(new HealthCheckRequest { Service = waitFor }, deadline: DateTime.UtcNow.AddSeconds(2));
                if (r.Status == HealthCheckResponse.Types.ServingStatus.Serving) return server;
            }
            catch (RpcException) { }
            if (DateTime.UtcNow > until) { server.Dispose(); throw new TimeoutException($"server at {address} not serving after 90 s:\n{server.Log}"); }
            await Task.Delay(200);
        }
    }

    /// <summary>Kills the process at once (SIGKILL: no shutdown hooks run), as a crash would.</summary>
    public void Kill()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.WaitForExit(10_000);
    }

    public void Dispose()
    {
        Channel.Dispose();
        try { Kill(); } catch (InvalidOperationException) { }
        _process.Dispose();
    }
}
