using System.Diagnostics;
using ConceptSuite.Bottleneck.Data;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Data;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Discovery.Abstractions;
using ConceptSuite.Discovery.Methods;
using ConceptSuite.Embedding.Data;
using ConceptSuite.Server;
using Microsoft.Extensions.DependencyInjection;
using Grpc.Core;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Benchmarks;

/// <summary>
/// Quality of the bottleneck models, side by side, trained and evaluated through the real gRPC
/// server (Kestrel on loopback): linear probe, CBM, PCBM, PCBM-h, sparse probe, Sparse-CBM and
/// Concept Matrix Search on features from the embedding stage. The images go through the stage's
/// EmbedDataset job (ResNet18): Fashion-MNIST "pool" features (concepts from the class-level attribute
/// table) and concept-shapes "pool" and "layer4" averaged over a 2×2 grid (per-instance concept labels).
/// Features are kept in the activation cache (.cache/activations/), so only the first run embeds.
/// The sparse probe and Concept Matrix Search use 64 NMF atoms of the training features (the
/// discovery stage's method) as discovered concepts.
/// Options: --train N (default 2000), --test N (1000), --shapes-train N (600), --shapes-test N (300).
/// </summary>
public static class BottleneckBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        int Arg(string name, int def) { var i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : def; }
        int nTrain = Arg("--train", 2000), nTest = Arg("--test", 1000), sTrain = Arg("--shapes-train", 600), sTest = Arg("--shapes-test", 300);
        torch.set_num_threads(Math.Max(1, Environment.ProcessorCount));
        var dataDir = Path.Combine(Path.GetTempPath(), "cs-bottleneck-bench-" + Guid.NewGuid().ToString("N"));
        int port = Loopback.FreePort();
        var app = SuiteApp.Create(["--stages", "embedding,bottleneck", "--data-dir", dataDir, "--listen", $"http://127.0.0.1:{port}", "--metrics", "",
            "--Logging:LogLevel:Default=Warning"]);
        await app.StartAsync();
        try
        {
            using var channel = SuiteChannel.Create($"http://127.0.0.1:{port}");
            var client = new BottleneckService.BottleneckServiceClient(channel);
            var embedder = new EmbeddingService.EmbeddingServiceClient(channel);
            var store = app.Services.GetRequiredService<ArtifactStore>();
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var wall = Stopwatch.StartNew();

            using var ftrain = FashionMnist.Load("train", nTrain);
            using var ftest = FashionMnist.Load("test", nTest);
            var fx = (await Features(embedder, store, ftrain, $"fashion-mnist-train{nTrain}-resnet18-pool"))["activations"];
            var fxt = (await Features(embedder, store, ftest, $"fashion-mnist-test{nTest}-resnet18-pool"))["activations"];
            using var strain = ConceptShapes.Generate(sTrain, 1);
            using var stest = ConceptShapes.Generate(sTest, 2);
            var sx = await Features(embedder, store, strain, $"concept-shapes-{sTrain}-seed1-resnet18");
            var sxt = await Features(embedder, store, stest, $"concept-shapes-{sTest}-seed2-resnet18");
            Console.WriteLine($"features ready in {wall.Elapsed.TotalSeconds:F1} s wall, {(Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds:F1} s CPU");

            var attributes = FashionMnistAttributes.Load();
            var fashion = new Problem("fashion-mnist (ResNet18 pool, 512-d)", "fmnist", fx, ftrain.Labels, fxt, ftest.Labels,
                attributes.LabelsFor(ftrain.Labels), attributes.LabelsFor(ftest.Labels), attributes.AttributeNames, FashionMnist.ClassNames);
            Problem Shapes(string tap, string label) => new($"concept-shapes (ResNet18 {label})", "shapes_" + tap, sx[tap], strain.Labels, sxt[tap], stest.Labels,
                strain.ConceptLabels!, stest.ConceptLabels!, ConceptShapes.ConceptNames, strain.ClassNames);
            var tasks = new[] { fashion, Shapes("pool", "pool, 512-d"), Shapes("layer4_2x2", "layer4 2×2, 2048-d") };

            Console.WriteLine($"bottleneck quality: Fashion-MNIST {nTrain} train / {nTest} test, concept-shapes {sTrain} / {sTest}; ResNet18 features from the embedding stage");
            var rows = new List<string>();
            var summary = new Dictionary<string, double>();
            foreach (var task in tasks)
            {
                Console.WriteLine($"\n== {task.Name}");
                Console.WriteLine($"{"model",-40} {"test acc",9} {"concept acc",12} {"concepts/class",15} {"train s",8}");
                var atoms = NmfAtoms(task.X, 64, 7);
                var atomNames = Enumerable.Range(0, 64).Select(i => $"nmf{i}").ToList();
                var runs = new (string Label, string Type, Dictionary<string, string> Options, bool Concepts, Tensor? Bank, IReadOnlyList<string>? BankNames)[]
                {
                    ("linear probe", "linear_probe", new(), false, null, null),
                    ("CBM (sequential)", "cbm", new() { ["training"] = "sequential" }, true, null, null),
                    ("CBM (joint, λc=1)", "cbm", new() { ["training"] = "joint", ["joint_epochs"] = "5" }, true, null, null),
                    ("PCBM (CAV bank)", "pcbm", new() { ["bank"] = "cav" }, true, null, null),
                    ("PCBM-h (CAV bank + residual)", "pcbm_h", new() { ["bank"] = "cav" }, true, null, null),
                    ("sparse probe (64 NMF atoms, ≤5/class)", "sparse_probe", new() { ["max_concepts_per_class"] = "5" }, false, atoms, atomNames),
                    ("Sparse-CBM (gumbel, K=32)", "sparse_cbm", new() { ["objective"] = "gumbel", ["concepts"] = "32", ["epochs"] = "10" }, false, null, null),
                    ("Concept Matrix Search (64 NMF atoms)", "concept_matrix_search", new(), false, atoms, atomNames),
                    ("GCR vector head (cosine softmax, r=1)", "grassmann", new() { ["concept_layer"] = "features", ["representation"] = "vector", ["subspace_dim"] = "1" }, false, null, null),
                    ("GCR subspaces (r=4)", "grassmann", new() { ["concept_layer"] = "features", ["subspace_dim"] = "4" }, false, null, null),
                    ("GCR subspaces (r=4) on CBM concepts", "grassmann", new() { ["concept_layer"] = "cbm", ["subspace_dim"] = "4" }, true, null, null),
                };
                foreach (var r in runs)
                {
                    var config = new TrainConfig { ModelType = r.Type, Seed = 7 };
                    foreach (var (k, v) in r.Options) config.Options[k] = v;
                    config.ClassNames.Add(task.ClassNames);
                    var tensors = new List<(string, Tensor)> { ("features", task.X), ("labels", task.Y) };
                    // The sparse probe picks its path point by accuracy on the eval rows: it gets none, so the test rows stay unseen.
                    if (r.Type != "sparse_probe") { tensors.Add(("eval_features", task.Xt)); tensors.Add(("eval_labels", task.Yt)); }
                    if (r.Concepts)
                    {
                        config.ConceptNames.Add(task.ConceptNames);
                        tensors.Add(("concept_labels", task.C));
                        if (r.Type != "sparse_probe") tensors.Add(("eval_concept_labels", task.Ct));
                    }
                    if (r.Bank is not null) { config.ConceptNames.Add(r.BankNames!); tensors.Add(("concept_bank", r.Bank)); }
                    var sw = Stopwatch.StartNew();
                    var result = await Train(client, config, tensors);
                    sw.Stop();
                    // Predict through the RPC on the test rows.
                    var (logits, concepts) = await Predict(client, result.Artifact.Ref.Id, task.Xt);
                    double acc = logits.argmax(1).eq(task.Yt).to(ScalarType.Float32).mean().item<float>();
                    string conceptAcc = r.Type == "cbm" ? $"{concepts.ge(0.5f).eq(task.Ct.ge(0.5f)).to(ScalarType.Float32).mean().item<float>():F4}" : "-";
                    var perClass = result.Metrics["concepts_per_class_max"];
                    Console.WriteLine($"{r.Label,-40} {acc,9:F4} {conceptAcc,12} {perClass,15:F0} {sw.Elapsed.TotalSeconds,8:F1}");
                    rows.Add($"| {task.Name} | {r.Label} | {acc:F4} | {conceptAcc} | {perClass:F0} | {sw.Elapsed.TotalSeconds:F1} |");
                    summary[$"{task.Key}_{r.Type}{(r.Label.Contains("joint") ? "_joint" : "")}{(r.Type == "grassmann" ? "_" + r.Label : "")}"] = acc;
                    if (r.Type == "cbm" && !r.Label.Contains("joint")) summary[$"{task.Key}_cbm_concepts"] = double.Parse(conceptAcc, System.Globalization.CultureInfo.InvariantCulture);
                    if (r.Type == "sparse_probe")
                        for (int i = 0; i < 20; i++)
                            if (result.Metrics.TryGetValue($"path_{i:D2}_accuracy", out var pa))
                                Console.WriteLine($"    path λ={result.Metrics[$"path_{i:D2}_lambda"]:G3}: accuracy {pa:F4} (train) at ≤{result.Metrics[$"path_{i:D2}_concepts_per_class"]:F0} concepts/class");
                }
            }
            Console.WriteLine("\n| task | model | test accuracy | concept accuracy | max concepts/class | train+eval s |");
            Console.WriteLine("|---|---|---|---|---|---|");
            foreach (var r in rows) Console.WriteLine(r);
            double gap = summary["fmnist_linear_probe"] - summary["fmnist_pcbm_h"];
            Console.WriteLine($"\ntotal {wall.Elapsed.TotalSeconds:F1} s wall, {(Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds:F1} s CPU; load average now {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
            Console.WriteLine($"bottleneck: fmnist probe {summary["fmnist_linear_probe"]:F4} pcbm_h {summary["fmnist_pcbm_h"]:F4} (gap {gap * 100:F2} points) sparse_probe {summary["fmnist_sparse_probe"]:F4}; " +
                $"shapes layer4_2x2 cbm concept accuracy {summary["shapes_layer4_2x2_cbm_concepts"]:F4} (pool {summary["shapes_pool_cbm_concepts"]:F4})");
            return 0;
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            try { Directory.Delete(dataDir, true); } catch (IOException) { }
        }
    }

    sealed record Problem(string Name, string Key, Tensor X, Tensor Y, Tensor Xt, Tensor Yt, Tensor C, Tensor Ct, IReadOnlyList<string> ConceptNames, IReadOnlyList<string> ClassNames);

    /// <summary>
    /// The cached features, or: store the images as a dataset artifact, run the embedding stage's
    /// EmbedDataset job (ResNet18; "pool" for Fashion-MNIST, "pool" + "layer4" for concept-shapes) and cache its result.
    /// </summary>
    internal static async Task<Dictionary<string, Tensor>> Features(EmbeddingService.EmbeddingServiceClient embedder, ArtifactStore store, ImageDataset d, string cacheName)
    {
        if (ActivationCache.TryLoad(cacheName) is { } cached) return cached;
        bool shapes = d.ConceptLabels is not null;
        var dataset = await DatasetArtifacts.WriteAsync(store, d);
        var request = new EmbedDatasetRequest { Dataset = new ArtifactRef { Id = dataset.Ref.Id }, Model = "resnet18" };
        request.Taps.Add(shapes ? ["pool", "layer4"] : ["pool"]);
        var sw = Stopwatch.StartNew();
        using var call = embedder.EmbedDataset(request);
        JobResult? result = null;
        await foreach (var e in call.ResponseStream.ReadAllAsync())
            if (e.EventCase == JobEvent.EventOneofCase.Result) result = e.Result;
        var id = (result ?? throw new InvalidOperationException("embedding ended without a result")).Artifact.Ref.Id;
        Console.WriteLine($"embedded {d.Count} images of {d.Name} in {sw.Elapsed.TotalSeconds:F1} s");
        using var reader = store.Open(id, "features");
        var tensors = shapes
            ? new Dictionary<string, Tensor> { ["pool"] = reader.Read("pool").clone(), ["layer4_2x2"] = nn.functional.adaptive_avg_pool2d(reader.Read("layer4"), [2, 2]).flatten(1), ["labels"] = d.Labels }
            : new Dictionary<string, Tensor> { ["activations"] = reader.Read("activations").clone(), ["labels"] = d.Labels };
        ActivationCache.Save(cacheName, tensors);
        return tensors;
    }

    /// <summary>Discovered concepts: NMF atoms [count, D] of the (non-negative) training features, by the discovery stage's method.</summary>
    static Tensor NmfAtoms(Tensor x, int count, long seed)
    {
        using var dictionary = DictionaryMethods.Create("nmf", count, null);
        dictionary.Fit(new TensorRowSource(x), FitContext.Default(seed));
        return dictionary.Atoms().clone();
    }

    static async Task<JobResult> Train(BottleneckService.BottleneckServiceClient client, TrainConfig config, List<(string, Tensor)> tensors)
    {
        using var call = client.Train();
        await call.RequestStream.WriteAsync(new TrainRequest { Config = config });
        foreach (var (name, t) in tensors)
            foreach (var b in TensorStreams.Split(t, name, null, TensorBlocks.DefaultMaxBlockBytes))
                await call.RequestStream.WriteAsync(new TrainRequest { Block = b });
        await call.RequestStream.CompleteAsync();
        JobResult? result = null;
        await foreach (var e in call.ResponseStream.ReadAllAsync())
            if (e.EventCase == JobEvent.EventOneofCase.Result) result = e.Result;
        return result ?? throw new InvalidOperationException("training ended without a result");
    }

    static async Task<(Tensor Logits, Tensor Concepts)> Predict(BottleneckService.BottleneckServiceClient client, string id, Tensor x)
    {
        using var call = client.Predict();
        await call.RequestStream.WriteAsync(new PredictRequest { Config = new PredictConfig { Model = new ArtifactRef { Id = id } } });
        foreach (var b in TensorStreams.Split(x, "", null, TensorBlocks.DefaultMaxBlockBytes)) await call.RequestStream.WriteAsync(new PredictRequest { Block = b });
        await call.RequestStream.CompleteAsync();
        var logits = new List<Tensor>(); var concepts = new List<Tensor>();
        await foreach (var m in call.ResponseStream.ReadAllAsync())
        {
            var t = TensorCodec.ToTorch(m.Block.Tensor).clone();
            if (m.Block.Name == "logits") logits.Add(t);
            else if (m.Block.Name == "concepts") concepts.Add(t);
        }
        return (cat(logits, 0), cat(concepts, 0));
    }

}
