using System.Collections.Concurrent;
using System.Diagnostics;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace ConceptSuite.Benchmarks;

/// <summary>
/// The load itself (the `load` benchmark, and the short run in the test suite, which compiles this file too): a setup that
/// trains one linear probe for Predict, then <c>clients</c> loops, each on its own channel, calling
/// a random RPC of the mix until the time is up. Every call is timed and its status counted.
/// </summary>
public static class LoadRun
{
    const int Dim = 32;

    /// <summary>The RPCs of the mix.</summary>
    public static readonly string[] Rpcs = ["EmbedImages", "Fit", "Predict", "CompareRepresentations", "Echo"];

    public static async Task<LoadReport> RunAsync(string address, int serverPid, int clients, TimeSpan duration, TextWriter log)
    {
        using var setup = SuiteChannel.Create(address);
        var probe = await TrainProbeAsync(setup);
        log.WriteLine($"load: {clients} clients x {duration.TotalSeconds:0} s against {address} (server pid {serverPid}); probe {probe[..12]}");

        var latencies = new ConcurrentDictionary<string, ConcurrentBag<double>>();
        var statuses = new ConcurrentDictionary<(string Rpc, StatusCode Code), int>();
        var errors = new ConcurrentDictionary<string, string>();
        long peakSampled = 0;
        using var stop = new CancellationTokenSource(duration);
        var sampler = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                Interlocked.Exchange(ref peakSampled, Math.Max(Interlocked.Read(ref peakSampled), ProcStatus(serverPid, "VmRSS:")));
                try { await Task.Delay(200, stop.Token); } catch (OperationCanceledException) { }
            }
        });
        var sw = Stopwatch.StartNew();
        var loops = Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            using var channel = SuiteChannel.Create(address);
            var rnd = new Random(1000 + c);
            while (!stop.IsCancellationRequested)
            {
                var rpc = LoadRun.Rpcs[rnd.Next(LoadRun.Rpcs.Length)];
                var t = Stopwatch.StartNew();
                var code = StatusCode.OK;
                try { await CallAsync(channel, rpc, rnd, probe); }
                catch (RpcException e)
                {
                    code = e.StatusCode;
                    errors.TryAdd($"{rpc} {e.StatusCode}", e.Status.Detail);
                }
                statuses.AddOrUpdate((rpc, code), 1, (_, n) => n + 1);
                if (code == StatusCode.OK) latencies.GetOrAdd(rpc, _ => []).Add(t.Elapsed.TotalMilliseconds);
            }
        })).ToList();
        await Task.WhenAll(loops);
        var wall = sw.Elapsed;
        await sampler;

        // Afterwards: the server still serves, and an echo still round-trips.
        bool healthy;
        try
        {
            var h = await new Health.HealthClient(setup).CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(30));
            await CallAsync(setup, "Echo", new Random(1), probe);
            healthy = h.Status == HealthCheckResponse.Types.ServingStatus.Serving;
        }
        catch (RpcException e) { healthy = false; errors.TryAdd("after", e.Status.ToString()); }
        long peak = Math.Max(ProcStatus(serverPid, "VmHWM:"), Interlocked.Read(ref peakSampled));
        return new LoadReport(clients, wall, latencies.ToDictionary(kv => kv.Key, kv => kv.Value.ToList()),
            statuses.ToDictionary(kv => kv.Key, kv => kv.Value), errors.ToDictionary(kv => kv.Key, kv => kv.Value), peak, healthy);
    }

    /// <summary>A /proc/PID/status field in bytes (VmRSS now, VmHWM the peak); 0 where not readable.</summary>
    static long ProcStatus(int pid, string field)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line[field.Length..].Trim().Split(' ')[0]) * 1024;
        }
        catch (IOException) { return 0; }
    }

    static HostTensor Floats(Random rnd, int rows, int cols)
    {
        var v = new float[rows * cols];
        for (int i = 0; i < v.Length; i++) v[i] = (float)(rnd.NextDouble() * 2 - 1);
        return HostTensor.FromFloats(v, rows, cols);
    }

    static HostTensor Longs(long[] values) => new(DType.Int64, [values.Length], values.SelectMany(BitConverter.GetBytes).ToArray(), []);

    /// <summary>A linear probe on 256 random rows of 32 features with 4 classes (the class is the argmax of the first 4 features).</summary>
    static async Task<string> TrainProbeAsync(GrpcChannel channel)
    {
        var rnd = new Random(7);
        var x = Floats(rnd, 256, Dim);
        var xs = x.ToFloats();
        var labels = Enumerable.Range(0, 256).Select(i => (long)Enumerable.Range(0, 4).MaxBy(j => xs[i * Dim + j])).ToArray();
        using var call = new BottleneckService.BottleneckServiceClient(channel).Train();
        await call.RequestStream.WriteAsync(new TrainRequest { Config = new TrainConfig { ModelType = "linear_probe", ClassNames = { "a", "b", "c", "d" }, Seed = 1 } });
        foreach (var b in x.ToBlocks("features")) await call.RequestStream.WriteAsync(new TrainRequest { Block = b });
        foreach (var b in Longs(labels).ToBlocks("labels")) await call.RequestStream.WriteAsync(new TrainRequest { Block = b });
        await call.RequestStream.CompleteAsync();
        string? id = null;
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
            if (call.ResponseStream.Current.Result is { } r) id = r.Artifact.Ref.Id;
        return id ?? throw new InvalidOperationException("the probe's job ended without a result");
    }

    static async Task CallAsync(GrpcChannel channel, string rpc, Random rnd, string probe)
    {
        var deadline = DateTime.UtcNow.AddMinutes(5);
        switch (rpc)
        {
            case "EmbedImages":
            {
                var pixels = new byte[8 * 28 * 28];
                rnd.NextBytes(pixels);
                using var call = new EmbeddingService.EmbeddingServiceClient(channel).EmbedImages(deadline: deadline);
                var reading = Drain(call.ResponseStream);
                await call.RequestStream.WriteAsync(new EmbedImagesRequest { Config = new EmbedImagesConfig { Model = "resnet18", Taps = { "pool" } } });
                foreach (var b in HostTensor.FromBytes(pixels, 8, 1, 28, 28).ToBlocks()) await call.RequestStream.WriteAsync(new EmbedImagesRequest { Images = b });
                await call.RequestStream.CompleteAsync();
                await reading;
                break;
            }
            case "Fit":
            {
                using var call = new DiscoveryService.DiscoveryServiceClient(channel).Fit(deadline: deadline);
                var config = new FitConfig { Seed = rnd.Next(1, 1_000_000), SkipStability = true };
                config.Dictionaries.Add(new DictionarySpec { Method = "pca", NConcepts = 8 });
                await call.RequestStream.WriteAsync(new FitRequest { Config = config });
                foreach (var b in Floats(rnd, 256, Dim).ToBlocks()) await call.RequestStream.WriteAsync(new FitRequest { Block = b });
                await call.RequestStream.CompleteAsync();
                await Drain(call.ResponseStream);
                break;
            }
            case "Predict":
            {
                using var call = new BottleneckService.BottleneckServiceClient(channel).Predict(deadline: deadline);
                var reading = Drain(call.ResponseStream);
                await call.RequestStream.WriteAsync(new PredictRequest { Config = new PredictConfig { Model = new ArtifactRef { Id = probe } } });
                foreach (var b in Floats(rnd, 64, Dim).ToBlocks()) await call.RequestStream.WriteAsync(new PredictRequest { Block = b });
                await call.RequestStream.CompleteAsync();
                await reading;
                break;
            }
            case "CompareRepresentations":
            {
                using var call = new ExplainService.ExplainServiceClient(channel).CompareRepresentations(deadline: deadline);
                await call.RequestStream.WriteAsync(new CompareRepresentationsRequest { Config = new CompareRepresentationsConfig { Similarities = { "linear_cka" } } });
                foreach (var b in Floats(rnd, 256, Dim).ToBlocks("a")) await call.RequestStream.WriteAsync(new CompareRepresentationsRequest { Block = b });
                foreach (var b in Floats(rnd, 256, 16).ToBlocks("b")) await call.RequestStream.WriteAsync(new CompareRepresentationsRequest { Block = b });
                await call.RequestStream.CompleteAsync();
                await call.ResponseAsync;
                break;
            }
            case "Echo":
            {
                using var call = new TensorTransport.TensorTransportClient(channel).Echo(deadline: deadline);
                var reading = Drain(call.ResponseStream);
                foreach (var b in Floats(rnd, 1024, 256).ToBlocks("x", 256 << 10)) await call.RequestStream.WriteAsync(b);
                await call.RequestStream.CompleteAsync();
                await reading;
                break;
            }
            default: throw new ArgumentOutOfRangeException(nameof(rpc), rpc, "not in the mix");
        }
    }

    static async Task Drain<T>(IAsyncStreamReader<T> reader)
    {
        while (await reader.MoveNext(CancellationToken.None)) { }
    }
}
