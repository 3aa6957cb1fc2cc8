using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Data;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Embedding.Images;
using ConceptSuite.Embedding.Models;
using ConceptSuite.Embedding.Onnx;
using ConceptSuite.Server;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;

namespace ConceptSuite.Benchmarks;

/// <summary>
/// embed: ResNet18 on the same Fashion-MNIST images through a raw ONNX Runtime session (graph
/// batch made symbolic, batches of 32) and through the EmbedImages RPC of a real server on
/// loopback, in one run. Also prints how batching choices compare on the raw session.
/// Options: --images N (default 256), --batch B (32), --no-sweep.
/// Last line: embed rpc-ips=&lt;x&gt; raw-ips=&lt;y&gt; ratio=&lt;x/y&gt;.
/// </summary>
public static class EmbeddingBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        int n = Opt(args, "--images", 256), batch = Opt(args, "--batch", 32);
        bool sweep = !args.Contains("--no-sweep");
        using var data = FashionMnist.Load("test", n);
        var images = data.Images;
        Console.WriteLine($"embed: {n} Fashion-MNIST test images, batch {batch}, {Environment.ProcessorCount} cores");

        // Raw ONNX Runtime: preprocessing graph + ResNet18 graph, both with a symbolic batch.
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var pre = new InferenceSession(new OnnxGraphEditor(File.ReadAllBytes(BundledModels.ResNetPreprocessPath)).MakeBatchSymbolic().ToBytes(), options);
        using var net = new InferenceSession(new OnnxGraphEditor(File.ReadAllBytes(BundledModels.ResNet18Path)).MakeBatchSymbolic().ToBytes(), options);
        double RawIps(int b, InferenceSession p, InferenceSession m, int count)
        {
            var sw = Stopwatch.StartNew();
            for (int s = 0; s < count; s += b)
            {
                int k = Math.Min(b, count - s);
                using var scope = torch.NewDisposeScope();
                var x = ImageConform.ToModelInput(images.narrow(0, s, k), 3, 224, 224, "images");
                var input = x.data<float>().ToArray();
                using var v = OrtValue.CreateTensorValueFromMemory(input, [k, 3, 224, 224]);
                using var po = p.Run(new RunOptions(), ["OriginalInput"], [v], ["PreprocessedInput"]);
                using var mo = m.Run(new RunOptions(), ["Input247"], [po[0]], ["Pooling395_Output_0"]);
                if (mo[0].GetTensorTypeAndShape().Shape[0] != k) throw new InvalidOperationException("wrong batch");
            }
            return count / sw.Elapsed.TotalSeconds;
        }
        RawIps(batch, pre, net, Math.Min(n, batch));   // warm-up
        if (sweep)
        {
            int m = Math.Min(n, 64);
            foreach (var b in new[] { 1, 8, 32 })
                Console.WriteLine($"embed raw batch={b}: {RawIps(b, pre, net, m):F1} images/s ({m} images)");
            // The alternative to a symbolic batch: fixed batch 1 in two concurrent single-threaded sessions.
            using var one = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 };
            var fixedNet = File.ReadAllBytes(BundledModels.ResNet18Path);
            var sessions = Enumerable.Range(0, 2).Select(_ => (P: new InferenceSession(BundledModels.ResNetPreprocessPath, one), M: new InferenceSession(fixedNet, one))).ToList();
            var sw = Stopwatch.StartNew();
            Parallel.For(0, 2, w => RawIps(1, sessions[w].P, sessions[w].M, m / 2));
            Console.WriteLine($"embed raw 2 concurrent batch-1 sessions x 1 thread: {m / sw.Elapsed.TotalSeconds:F1} images/s ({m} images)");
            foreach (var s in sessions) { s.P.Dispose(); s.M.Dispose(); }
        }
        double raw = RawIps(batch, pre, net, n);
        Console.WriteLine($"embed raw: {raw:F1} images/s");

        // The RPC: a real server on a loopback port, images as uint8 row blocks of `batch` rows.
        int port = Loopback.FreePort();
        var dataDir = Path.Combine(Path.GetTempPath(), "cs-bench-" + Guid.NewGuid().ToString("N"));
        var app = SuiteApp.Create(["--stages", "embedding", "--listen", $"http://127.0.0.1:{port}", "--metrics", "", "--data-dir", dataDir,
            "--ConceptSuite:Embedding:ChunkRows=" + batch, "--ConceptSuite:Embedding:MaxBatch=" + batch, "--Logging:LogLevel:Default=Warning"]);
        await app.StartAsync();
        try
        {
            using var channel = SuiteChannel.Create($"http://127.0.0.1:{port}");
            var client = new EmbeddingService.EmbeddingServiceClient(channel);
            async Task<double> RpcIps(int count)
            {
                var sw = Stopwatch.StartNew();
                using var call = client.EmbedImages();
                await call.RequestStream.WriteAsync(new EmbedImagesRequest { Config = new EmbedImagesConfig { Model = "resnet18", Taps = { "pool" } } });
                var reader = Task.Run(async () =>
                {
                    long rows = 0;
                    while (await call.ResponseStream.MoveNext(CancellationToken.None)) rows += call.ResponseStream.Current.Tensor.Shape[0];
                    return rows;
                });
                var part = images.narrow(0, 0, count).contiguous();
                foreach (var block in TensorStreams.Split(part, "", null, 784 * batch))
                    await call.RequestStream.WriteAsync(new EmbedImagesRequest { Images = block });
                await call.RequestStream.CompleteAsync();
                if (await reader != count) throw new InvalidOperationException("rows missing");
                return count / sw.Elapsed.TotalSeconds;
            }
            await RpcIps(Math.Min(n, batch));   // warm-up (model load)
            double rpc = await RpcIps(n);
            Console.WriteLine($"embed rpc: {rpc:F1} images/s");
            Console.WriteLine($"embed rpc-ips={rpc:F1} raw-ips={raw:F1} ratio={rpc / raw:F3}");
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            try { Directory.Delete(dataDir, true); } catch (IOException) { }
        }
        return 0;
    }

    static int Opt(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], out var v) && v > 0 ? v : fallback;
    }
}
