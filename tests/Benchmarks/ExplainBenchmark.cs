using System.Diagnostics;
using System.Text.Json;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Explain.Importance;
using ConceptSuite.Explain.Representations;
using ConceptSuite.Server;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using TorchSharp;

namespace ConceptSuite.Benchmarks;

/// <summary>
/// Times linear CKA, debiased CKA and Sobol total indices at fixed sizes against the same
/// computations in NumPy (Debian python3-numpy on OpenBLAS, /usr/bin/python3) in the same run.
/// Usage: explain [--n 4096] [--d 512] [--gram-n 2048] [--samples 128] [--concepts 32] [--design 64] [--threads 2]
/// Quality mode: explain --quality [--n 1000] [--train 5000] [--epochs 5] — the done-when
/// pipeline on real Fashion-MNIST at a larger N through a real server: the built-in CNN trained by
/// TrainBackbone, both backbones embedded by EmbedDataset jobs, then the explain RPCs: linear and
/// debiased CKA between every pair of layers (spatial taps averaged over space), Hungarian unit
/// matching, and class importance with clusters for every class.
/// </summary>
public static class ExplainBenchmark
{
    const string Peer = """
import json, sys, time
import numpy as np
n, d, gn, samples, k, design = map(int, sys.argv[1:7])
rng = np.random.default_rng(0)
def best(f, reps=3):
    f(); t = []
    for _ in range(reps):
        s = time.perf_counter(); f(); t.append(time.perf_counter() - s)
    return min(t)
x = rng.normal(size=(n, d)); y = np.tanh(x @ rng.normal(size=(d, d)) / np.sqrt(d))
def linear_cka():
    a = x - x.mean(0); b = y - y.mean(0)
    return np.sum((b.T @ a) ** 2) / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b))
gx, gy = x[:gn], y[:gn]
def ucenter(g):
    g = g.copy(); m = g.shape[0]; np.fill_diagonal(g, 0)
    mu = g.sum(0) / (m - 2); mu -= mu.sum() / (2 * (m - 1))
    g -= mu[:, None]; g -= mu[None, :]; np.fill_diagonal(g, 0); return g
def debiased_cka():
    k1, k2 = ucenter(gx @ gx.T), ucenter(gy @ gy.T)
    return (k1 * k2).sum() / (np.linalg.norm(k1) * np.linalg.norm(k2))
w = rng.normal(size=(10, k)); u = np.abs(rng.normal(size=(samples, k))); tg = rng.integers(0, 10, samples)
def sobol():
    out = np.zeros((samples, k))
    ab = rng.random((design, 2 * k)); a, b = ab[:, :k], ab[:, k:]
    c = np.repeat(a[None], k, 0); idx = np.arange(k); c[idx, :, idx] = b[:, idx].T
    masks = np.concatenate([a, b, c.reshape(-1, k)])
    for s in range(samples):
        f = (u[s] * masks) @ w[tg[s]]
        fa, fb, fc = f[:design], f[design:2 * design], f[2 * design:].reshape(k, design)
        out[s] = ((fa[None] - fc) ** 2).mean(1) / 2 / np.var(np.concatenate([fa, fb]))
    return out
print(json.dumps({"linear_cka": best(linear_cka), "debiased_cka": best(debiased_cka), "sobol": best(sobol)}))
""";

    static int Arg(string[] args, string name, int fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : fallback;
    }

    static double Best(Action f, int reps = 3)
    {
        f();
        var best = double.MaxValue;
        for (int r = 0; r < reps; r++)
        {
            var sw = Stopwatch.StartNew();
            f();
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return best;
    }

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Contains("--quality")) return await QualityAsync(Arg(args, "--n", 1000), Arg(args, "--train", 5000), Arg(args, "--epochs", 5));
        int n = Arg(args, "--n", 4096), d = Arg(args, "--d", 512), gramN = Arg(args, "--gram-n", 2048);
        int samples = Arg(args, "--samples", 128), k = Arg(args, "--concepts", 32), design = Arg(args, "--design", 64);
        int threads = Arg(args, "--threads", 2);
        if (!Peers.Require("explain", "python3-numpy", "libopenblas0-pthread")) return 2;
        torch.set_num_threads(threads);
        var g = new torch.Generator(0);
        var x = torch.randn([n, d], torch.ScalarType.Float64, generator: g);
        var y = torch.tanh(x.matmul(torch.randn([d, d], torch.ScalarType.Float64, generator: g)) / Math.Sqrt(d));
        var gx = x.narrow(0, 0, gramN);
        var gy = y.narrow(0, 0, gramN);
        var head = new LinearConceptHead(torch.randn([10, k], torch.ScalarType.Float64, generator: g));
        var u = torch.randn([samples, k], torch.ScalarType.Float64, generator: g).abs();
        var targets = Enumerable.Range(0, samples).Select(i => (long)(i % 10)).ToArray();
        var sobol = new SobolTotalIndex(design, 1, new RandomDesign());

        double linear = Best(() => new LinearCka().Score(x, y));
        double debiased = Best(() => new DebiasedCka().Score(gx, gy));
        double sob = Best(() => sobol.Explain(head, u, targets).Dispose());

        var peer = Peers.RunJson(["-c", Peer, $"{n}", $"{d}", $"{gramN}", $"{samples}", $"{k}", $"{design}"], threads);
        double pl = peer.GetProperty("linear_cka").GetDouble(), pd = peer.GetProperty("debiased_cka").GetDouble(), ps = peer.GetProperty("sobol").GetDouble();
        Console.WriteLine($"threads {threads}, float64");
        Console.WriteLine($"linear CKA      N={n} D={d}x{d}:        ConceptSuite {linear * 1e3,8:F1} ms   numpy {pl * 1e3,8:F1} ms   ratio {linear / pl:F2}");
        Console.WriteLine($"debiased CKA    N={gramN} D={d}x{d} (Gram): ConceptSuite {debiased * 1e3,8:F1} ms   numpy {pd * 1e3,8:F1} ms   ratio {debiased / pd:F2}");
        Console.WriteLine($"Sobol (Jansen)  {samples} samples, K={k}, n={design} ({(k + 2) * design} head calls/sample): ConceptSuite {sob * 1e3,8:F1} ms   numpy {ps * 1e3,8:F1} ms   ratio {sob / ps:F2}");
        Console.WriteLine($"explain: linear_cka {linear / pl:F2}x numpy, debiased_cka {debiased / pd:F2}x numpy, sobol {sob / ps:F2}x numpy (time ratios, lower is faster)");
        return 0;
    }
    static readonly string[] ResNetLayers = ["layer2", "layer3", "pool"];
    static readonly string[] CnnLayers = ["conv1", "conv2", "features", "logits"];

    static async Task<ArtifactInfo> JobResult(AsyncServerStreamingCall<JobEvent> call)
    {
        JobEvent? last = null;
        while (await call.ResponseStream.MoveNext(CancellationToken.None)) last = call.ResponseStream.Current;
        return last?.Result?.Artifact ?? throw new InvalidOperationException("job ended without a result");
    }

    /// <summary>Each tap of an activation artifact as float64 [N, C] (spatial taps averaged over space, block by block).</summary>
    static Dictionary<string, torch.Tensor> ReadPooled(ArtifactStore store, string id, IEnumerable<string> taps)
    {
        using var reader = store.Open(id);
        return taps.ToDictionary(t => t, t => torch.cat(reader.ReadBlocks(t, 256)
            .Select(b => { using (b.Block) return (b.Block.dim() == 4 ? b.Block.mean([2, 3]) : b.Block).to_type(torch.ScalarType.Float64); }).ToList(), 0));
    }

    static async Task<TResponse> Call<TRequest, TResponse>(AsyncClientStreamingCall<TRequest, TResponse> call, TRequest config, Func<TensorBlock, TRequest> wrap, params (string Name, torch.Tensor Value)[] tensors)
    {
        using (call)
        {
            await call.RequestStream.WriteAsync(config);
            foreach (var (name, value) in tensors)
                foreach (var block in TensorStreams.Split(value, name, null, TensorBlocks.DefaultMaxBlockBytes))
                    await call.RequestStream.WriteAsync(wrap(block));
            await call.RequestStream.CompleteAsync();
            return await call.ResponseAsync;
        }
    }

    static async Task<int> QualityAsync(int n, int trainRows, int epochs)
    {
        int port = Loopback.FreePort();
        var dataDir = Path.Combine(Path.GetTempPath(), "cs-bench-" + Guid.NewGuid().ToString("N"));
        var app = SuiteApp.Create(["--stages", "embedding,explain", "--listen", $"http://127.0.0.1:{port}", "--metrics", "", "--data-dir", dataDir, "--Logging:LogLevel:Default=Warning"]);
        await app.StartAsync();
        try
        {
            var store = app.Services.GetRequiredService<ArtifactStore>();
            using var channel = SuiteChannel.Create($"http://127.0.0.1:{port}");
            var embed = new EmbeddingService.EmbeddingServiceClient(channel);
            var explain = new ExplainService.ExplainServiceClient(channel);
            var sw = Stopwatch.StartNew();
            async Task<ArtifactInfo> Import(string source, int limit)
            {
                using var call = embed.ImportDataset();
                await call.RequestStream.WriteAsync(new ImportDatasetRequest { Header = new ImportDatasetHeader { Source = source, Limit = limit } });
                await call.RequestStream.CompleteAsync();
                return await call.ResponseAsync;
            }
            var train = await Import("fashion-mnist:train", trainRows);
            var test = await Import("fashion-mnist:test", n);
            var cnn = await JobResult(embed.TrainBackbone(new TrainBackboneRequest { Dataset = new ArtifactRef { Id = train.Ref.Id }, Architecture = "cnn", Epochs = epochs, BatchSize = 64, Seed = 1 }));
            var cnnName = "backbone:" + cnn.Ref.Id;
            Console.WriteLine($"cnn: {epochs} epochs on {trainRows} training images ({sw.Elapsed.TotalSeconds:F0} s)");
            var resnetActs = await JobResult(embed.EmbedDataset(new EmbedDatasetRequest { Dataset = new ArtifactRef { Id = test.Ref.Id }, Model = "resnet18", Taps = { ResNetLayers } }));
            var cnnActs = await JobResult(embed.EmbedDataset(new EmbedDatasetRequest { Dataset = new ArtifactRef { Id = test.Ref.Id }, Model = cnnName, Taps = { CnnLayers } }));
            var a = ReadPooled(store, resnetActs.Ref.Id, ResNetLayers);
            var b = ReadPooled(store, cnnActs.Ref.Id, CnnLayers);
            torch.Tensor labels;
            using (var reader = store.Open(test.Ref.Id)) labels = reader.Read("labels");
            Console.WriteLine($"embedded {n} test images with both backbones ({sw.Elapsed.TotalSeconds:F0} s)");

            Task<CompareRepresentationsResponse> Compare(CompareRepresentationsConfig cfg, torch.Tensor x, torch.Tensor y) =>
                Call(explain.CompareRepresentations(), new CompareRepresentationsRequest { Config = cfg }, blk => new CompareRepresentationsRequest { Block = blk }, ("a", x), ("b", y));
            var cka = new CompareRepresentationsConfig { Similarities = { "linear_cka", "debiased_cka" } };
            foreach (var index in cka.Similarities)
            {
                Console.WriteLine($"{index} (N = {n}), rows ResNet18, columns CNN");
                Console.WriteLine($"| {"",-8} | {string.Join(" | ", CnnLayers.Select(c => $"{c,8}"))} |");
                foreach (var r in ResNetLayers)
                {
                    var row = new List<string>();
                    foreach (var c in CnnLayers) row.Add($"{(await Compare(cka, a[r], b[c])).Similarities[index],8:F3}");
                    Console.WriteLine($"| {r,-8} | {string.Join(" | ", row)} |");
                }
            }
            var self = (await Compare(cka, a["pool"], a["pool"])).Similarities;
            Console.WriteLine($"self-similarity of resnet18 pool: linear {self["linear_cka"]:F6}, debiased {self["debiased_cka"]:F6}");
            foreach (var (r, c) in new[] { ("pool", "features"), ("layer2", "conv2") })
            {
                var m = (await Compare(new CompareRepresentationsConfig { MatchUnits = true }, b[c], a[r])).Matching;
                var pc = m.PartnerCorrelation.Where(double.IsFinite).OrderDescending().ToArray();
                Console.WriteLine($"unit matching cnn {c} ({b[c].shape[1]} units) -> resnet18 {r} ({a[r].shape[1]} units): mean matched correlation {m.MeanMatchedCorrelation:F3}, " +
                    $"median {pc[pc.Length / 2]:F3}, best {pc[0]:F3}, semi-matching mean {m.SemiCorrelation.Where(double.IsFinite).Average():F3}");
            }

            // Class importance with clusters: the CNN's feature units as concepts, its last layer as the head.
            torch.Tensor weight, bias;
            using (var reader = store.Open(cnn.Ref.Id)) { weight = reader.Read("head.weight"); bias = reader.Read("head.bias"); }
            {
                var names = JsonDocument.Parse(store.GetInfo(test.Ref.Id).MetadataJson).RootElement.GetProperty("class_names").EnumerateArray().Select(e => e.GetString()).ToArray();
                Console.WriteLine("class importance (gradient x input on the CNN's 128 feature units), 3 clusters per class:");
                for (int c = 0; c < 10; c++)
                {
                    var cfg = new ClassImportanceConfig { Importance = new() { Method = "gradient_input" }, ClassIndex = c, Clusters = 3, Exemplars = 1, DominantConcepts = 3 };
                    var rep = await Call(explain.ClassImportance(), new ClassImportanceRequest { Config = cfg }, blk => new ClassImportanceRequest { Block = blk },
                        ("coefficients", b["features"]), ("targets", labels), ("labels", labels), ("head_weight", weight), ("head_bias", bias));
                    var top = rep.Importance.Select((v, i) => (v, i)).OrderByDescending(t => t.v).Take(3).Select(t => $"{t.i} ({t.v:F2})");
                    Console.WriteLine($"  {c} {names[c],-12} {rep.Samples,4} samples; top units {string.Join(", ", top)}; clusters " +
                        string.Join(" / ", rep.Clusters.Select(k => $"{k.Members.Count}: {string.Join(",", k.DominantConcepts)}")));
                }
            }
            Console.WriteLine($"explain quality: n={n} total {sw.Elapsed.TotalSeconds:F0} s");
            return 0;
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            try { Directory.Delete(dataDir, true); } catch (IOException) { }
        }
    }
}
