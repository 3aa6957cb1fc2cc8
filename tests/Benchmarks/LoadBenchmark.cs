using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace ConceptSuite.Benchmarks;

/// <summary>
/// Load: concurrent clients against one all-stages server (a child process, so its RSS is its own),
/// each calling, in a random mix, EmbedImages (8 images, resnet18 "pool"), a small discovery Fit
/// (PCA, 8 concepts of 256×32, a fresh seed each time), bottleneck Predict (64 rows), explain
/// CompareRepresentations (linear CKA of 256×32 vs 256×16) and a TensorTransport Echo of 1 MiB.
/// Prints p50/p99 latency per RPC, errors by status, the server's peak RSS (VmHWM), and whether it
/// serves afterwards. Past capacity the server may only answer RESOURCE_EXHAUSTED.
/// <code>dotnet run -c Release --project tests/Benchmarks -- load [--clients 32] [--seconds 60]</code>
/// </summary>
public static class LoadBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        int clients = Opt(args, "--clients", 32), seconds = Opt(args, "--seconds", 60);
        var dataDir = Path.Combine(Path.GetTempPath(), "cs-load-" + Guid.NewGuid().ToString("N"));
        var (process, address) = StartServer("all", dataDir, []);
        try
        {
            using var channel = SuiteChannel.Create(address);
            await WaitServingAsync(channel, TimeSpan.FromSeconds(120));
            var report = await LoadRun.RunAsync(address, process.Id, clients, TimeSpan.FromSeconds(seconds), Console.Out);
            report.Print(Console.Out);
            return report.OnlyOkOrResourceExhausted && report.HealthyAfter ? 0 : 1;
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            process.Dispose();
            try { Directory.Delete(dataDir, true); } catch (IOException) { }
        }
    }

    /// <summary>
    /// Starts the server binary beside this one as a child process on a free loopback port (its
    /// stderr echoed with the stages as prefix); returns it and its address.
    /// </summary>
    internal static (Process Process, string Address) StartServer(string stages, string dataDir, IEnumerable<string> extra)
    {
        int port = Loopback.FreePort();
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "conceptsuite-server.dll"), "--stages", stages, "--listen", $"http://127.0.0.1:{port}",
                     "--metrics", "", "--data-dir", dataDir, "--Logging:LogLevel:Default=Warning" }.Concat(extra))
            psi.ArgumentList.Add(a);
        var process = Process.Start(psi)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => { if (e.Data is { } line) Console.Error.WriteLine($"{stages}: {line}"); };
        process.BeginOutputReadLine(); process.BeginErrorReadLine();
        return (process, $"http://127.0.0.1:{port}");
    }

    internal static async Task WaitServingAsync(GrpcChannel channel, TimeSpan timeout)
    {
        var health = new Health.HealthClient(channel);
        var until = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                if ((await health.CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(2))).Status == HealthCheckResponse.Types.ServingStatus.Serving) return;
            }
            catch (RpcException) when (DateTime.UtcNow < until) { }
            if (DateTime.UtcNow >= until) throw new TimeoutException("the server did not report SERVING");
            await Task.Delay(250);
        }
    }

    static int Opt(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v > 0 ? v : fallback;
    }
}
