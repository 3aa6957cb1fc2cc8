using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;

namespace ConceptSuite.Benchmarks;

/// <summary>
/// A gateway workflow moving activations between co-located stage processes: three server
/// processes on this host (the artifact store with the embedding stage, the discovery stage, and a
/// gateway), one float32 artifact of --gib GiB (default 1) in the store, and the workflow step
/// transport.echo, which streams the artifact from the store through the discovery stage's Echo
/// and back into the store. Run twice in the same processes' conditions: a gateway with
/// ConceptSuite:Gateway:SharedMemory=false (every leg inline gRPC) and one with it on (the
/// gateway's request streams, to the stage and to the store, through shared memory; the store's
/// and the stage's answers still inline). Prints each run's step throughput (payload bytes ÷ step
/// seconds, from the step's own metrics) and whether the stored copy has the input's id (every
/// byte survived). Last line: transport-workflow inline-MBps=A shm-MBps=B gib=G identical=1.
/// </summary>
public static class TransportWorkflowBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        double gib = TransportBenchmark.Option(args, "--gib", 1.0);
        var root = Directory.CreateTempSubdirectory("cs-transport-workflow-").FullName;
        var data = Path.Combine(root, "store");
        var processes = new List<Process>();
        try
        {
            var store = Launch(processes, "embedding", data, []);
            var discovery = Launch(processes, "discovery", data, []);
            await Task.WhenAll(WaitServingAsync(store), WaitServingAsync(discovery));
            string id;
            using (var channel = SuiteChannel.Create(store))
                id = await UploadAsync(channel, (long)(gib * (1L << 30)));
            Console.WriteLine($"artifact {id[..16]}: {gib:F2} GiB float32 in the store ({store}); stage discovery at {discovery}");

            var results = new Dictionary<bool, (double MBps, bool Identical, double Seconds)>();
            foreach (var shared in new[] { false, true })
            {
                var gateway = Launch(processes, "gateway", Path.Combine(root, shared ? "gateway-shm" : "gateway-inline"),
                    [$"--ConceptSuite:Gateway:Endpoints:store={store}", $"--ConceptSuite:Gateway:Endpoints:discovery={discovery}",
                     $"--ConceptSuite:Gateway:SharedMemory={(shared ? "true" : "false")}"]);
                await WaitServingAsync(gateway);
                using var channel = SuiteChannel.Create(gateway);
                var step = await EchoAsync(channel, id, shared);
                results[shared] = (step.Metrics["mb_per_s"], step.Metrics["identical"] == 1, (step.Finished.ToDateTime() - step.Started.ToDateTime()).TotalSeconds);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"gateway {(shared ? "shared memory" : "inline gRPC")}: transport.echo {step.Metrics["bytes"] / 1e6:F0} MB through discovery and back into the store in {results[shared].Seconds:F1} s: {results[shared].MBps:F0} MB/s, identical {results[shared].Identical}"));
            }
            bool identical = results.Values.All(r => r.Identical);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"transport-workflow inline-MBps={results[false].MBps:F0} shm-MBps={results[true].MBps:F0} gib={gib:F2} identical={(identical ? 1 : 0)}"));
            return identical ? 0 : 1;
        }
        finally
        {
            foreach (var p in processes)
            {
                try { p.Kill(entireProcessTree: true); await p.WaitForExitAsync(); } catch (InvalidOperationException) { }
                p.Dispose();
            }
            try { Directory.Delete(root, true); } catch (IOException) { }
        }
    }

    static string Launch(List<Process> processes, string stages, string dataDir, string[] extra)
    {
        var (process, address) = LoadBenchmark.StartServer(stages, dataDir, extra);
        processes.Add(process);
        return address;
    }

    static async Task WaitServingAsync(string address)
    {
        using var channel = SuiteChannel.Create(address);
        await LoadBenchmark.WaitServingAsync(channel, TimeSpan.FromSeconds(120));
    }

    /// <summary>Puts [rows, 256] float32 of deterministic values (through shared memory: setup, not measured).</summary>
    static async Task<string> UploadAsync(GrpcChannel channel, long bytes)
    {
        await using var link = new SharedMemoryLink(channel.CreateCallInvoker());
        var client = new ArtifactService.ArtifactServiceClient(channel.Intercept(link.Interceptor));
        const int width = 256, blockRows = 4096;
        long rows = bytes / (width * 4);
        var buffer = new float[blockRows * width];
        using var call = client.PutArtifact();
        await call.RequestStream.WriteAsync(new PutArtifactRequest { Header = new PutArtifactHeader { Kind = "activations", MetadataJson = "{}" } });
        for (long r = 0; r < rows; r += blockRows)
        {
            int n = (int)Math.Min(blockRows, rows - r);
            for (int i = 0; i < n * width; i++) buffer[i] = (float)((r * width + i) % 65521) * 1e-3f;
            foreach (var b in TensorBlocks.Split(DType.Float32, [n, width], MemoryMarshal.AsBytes(buffer.AsSpan(0, n * width)).ToArray(),
                         "activations", null, 4 << 20, r, rows))
                await call.RequestStream.WriteAsync(new PutArtifactRequest { Block = b });
        }
        await call.RequestStream.CompleteAsync();
        return (await call).Ref.Id;
    }

    static async Task<StepInfo> EchoAsync(GrpcChannel channel, string id, bool shared)
    {
        var step = new WorkflowStep { Name = "echo", Method = "transport.echo", Stage = "discovery" };
        step.Inputs["artifact"] = id;
        // The spec's name differs per run so that the second gateway does not reuse the first's step.
        var spec = new WorkflowSpec { Name = shared ? "echo-shared-memory" : "echo-inline" };
        spec.Steps.Add(step);
        using var call = new GatewayService.GatewayServiceClient(channel).RunWorkflow(new RunWorkflowRequest { Spec = spec });
        WorkflowInfo? finished = null;
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
            if (call.ResponseStream.Current.Finished is { } f) finished = f;
        if (finished is null || finished.State != WorkflowState.Succeeded)
            throw new InvalidOperationException($"workflow ended {finished?.State}: {finished?.Error}");
        return finished.Steps.Single(s => s.Name == "echo");
    }
}
