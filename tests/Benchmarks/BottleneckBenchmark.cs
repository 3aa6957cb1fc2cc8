using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ConceptSuite.Bottleneck.Data;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Data;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Server;
using Grpc.Core;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Benchmarks;

/// <summary>
/// Quality of the bottleneck models, side by side, trained and evaluated through the real gRPC
/// server (Kestrel on loopback): linear probe, CBM, PCBM, PCBM-h, sparse probe and Sparse-CBM on
/// Fashion-MNIST (pixel features, concepts from the class-level attribute table) and on
/// concept-shapes (pixel features, per-instance concept labels).
/// Options: --train N (default 10000), --test N (2000), --shapes-train N (3000), --shapes-test N (1000).
/// </summary>
public static class BottleneckBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        int Arg(string name, int def) { var i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : def; }
        int nTrain = Arg("--train", 10000), nTest = Arg("--test", 2000), sTrain = Arg("--shapes-train", 3000), sTest = Arg("--shapes-test", 1000);
        torch.set_num_threads(Math.Max(1, Environment.ProcessorCount));
        var dataDir = Path.Combine(Path.GetTempPath(), "cs-bottleneck-bench-" + Guid.NewGuid().ToString("N"));
        int port = Loopback.FreePort();
        var app = SuiteApp.Create(["--stages", "bottleneck", "--data-dir", dataDir, "--listen", $"http://127.0.0.1:{port}", "--metrics", ""]);
        await app.StartAsync();
        try
        {
            using var channel = SuiteChannel.Create($"http://127.0.0.1:{port}");
            var client = new BottleneckService.BottleneckServiceClient(channel);

            // Fashion-MNIST: pixels in [0, 1] as features (784-d); concepts = the class's attribute row.
            using var ftrain = FashionMnist.Load("train", nTrain);
            using var ftest = FashionMnist.Load("test", nTest);
            var attributes = FashionMnistAttributes.Load();
            var fx = Pixels(ftrain.Images); var fxt = Pixels(ftest.Images);
            var fc = attributes.LabelsFor(ftrain.Labels); var fct = attributes.LabelsFor(ftest.Labels);
            var fashion = new Problem("fashion-mnist (pixels, 784-d)", fx, ftrain.Labels, fxt, ftest.Labels, fc, fct, attributes.AttributeNames, FashionMnist.ClassNames);

            // Concept-shapes: RGB pixels (3072-d), label = shape, 16 per-instance concepts.
            using var strain = ConceptShapes.Generate(sTrain, 1);
            using var stest = ConceptShapes.Generate(sTest, 2);
            var shapes = new Problem("concept-shapes (pixels, 3072-d)", Pixels(strain.Images), strain.Labels, Pixels(stest.Images), stest.Labels,
                strain.ConceptLabels!, stest.ConceptLabels!, ConceptShapes.ConceptNames, strain.ClassNames);

            Console.WriteLine($"bottleneck quality: Fashion-MNIST {nTrain} train / {nTest} test, concept-shapes {sTrain} / {sTest}; features are pixels (no backbone features cached)");
            var rows = new List<string>();
            var summary = new Dictionary<string, double>();
            foreach (var task in new[] { fashion, shapes })
            {
                Console.WriteLine($"\n== {task.Name}");
                Console.WriteLine($"{"model",-36} {"test acc",9} {"concept acc",12} {"concepts/class",15} {"train s",8}");
                // Discovered concepts for the sparse probe: the top 64 principal directions of the training features.
                var atoms = PrincipalDirections(task.X, 64);
                var atomNames = Enumerable.Range(0, 64).Select(i => $"pc{i + 1}").ToList();
                var runs = new (string Label, string Type, Dictionary<string, string> Options, bool Concepts, Tensor? Bank, IReadOnlyList<string>? BankNames)[]
                {
                    ("linear probe", "linear_probe", new(), false, null, null),
                    ("CBM (sequential)", "cbm", new() { ["training"] = "sequential" }, true, null, null),
                    ("CBM (joint, λc=1)", "cbm", new() { ["training"] = "joint", ["joint_epochs"] = "5" }, true, null, null),
                    ("PCBM (CAV bank)", "pcbm", new() { ["bank"] = "cav" }, true, null, null),
                    ("PCBM-h (CAV bank + residual)", "pcbm_h", new() { ["bank"] = "cav" }, true, null, null),
                    ("sparse probe (64 PCA atoms, ≤5/class)", "sparse_probe", new() { ["max_concepts_per_class"] = "5" }, false, atoms, atomNames),
                    ("Sparse-CBM (gumbel, K=32)", "sparse_cbm", new() { ["objective"] = "gumbel", ["concepts"] = "32", ["epochs"] = "10" }, false, null, null),
                };
                foreach (var r in runs)
                {
                    var config = new TrainConfig { ModelType = r.Type, Seed = 7 };
                    foreach (var (k, v) in r.Options) config.Options[k] = v;
                    config.ClassNames.Add(task.ClassNames);
                    var tensors = new List<(string, Tensor)> { ("features", task.X), ("labels", task.Y), ("eval_features", task.Xt), ("eval_labels", task.Yt) };
                    if (r.Concepts)
                    {
                        config.ConceptNames.Add(task.ConceptNames);
                        tensors.Add(("concept_labels", task.C));
                        tensors.Add(("eval_concept_labels", task.Ct));
                    }
                    if (r.Bank is not null) { config.ConceptNames.Add(r.BankNames!); tensors.Add(("concept_bank", r.Bank)); }
                    var sw = Stopwatch.StartNew();
                    var result = await Train(client, config, tensors);
                    sw.Stop();
                    // Predict through the RPC on the test rows (the eval metric is checked against it).
                    var (logits, concepts) = await Predict(client, result.Artifact.Ref.Id, task.Xt);
                    double acc = logits.argmax(1).eq(task.Yt).to(ScalarType.Float32).mean().item<float>();
                    string conceptAcc = r.Type == "cbm" ? $"{concepts.ge(0.5f).eq(task.Ct.ge(0.5f)).to(ScalarType.Float32).mean().item<float>():F4}" : "-";
                    var perClass = result.Metrics["concepts_per_class_max"];
                    Console.WriteLine($"{r.Label,-36} {acc,9:F4} {conceptAcc,12} {perClass,15:F0} {sw.Elapsed.TotalSeconds,8:F1}");
                    rows.Add($"| {task.Name} | {r.Label} | {acc:F4} | {conceptAcc} | {perClass:F0} | {sw.Elapsed.TotalSeconds:F1} |");
                    summary[$"{(task == fashion ? "fmnist" : "shapes")}_{r.Type}{(r.Label.Contains("joint") ? "_joint" : "")}"] = acc;
                    if (r.Type == "sparse_probe")
                        for (int i = 0; i < 20; i++)
                            if (result.Metrics.TryGetValue($"path_{i:D2}_accuracy", out var pa))
                                Console.WriteLine($"    path λ={result.Metrics[$"path_{i:D2}_lambda"]:G3}: accuracy {pa:F4} (eval) at ≤{result.Metrics[$"path_{i:D2}_concepts_per_class"]:F0} concepts/class");
                }
            }
            Console.WriteLine("\n| task | model | test accuracy | concept accuracy | max concepts/class | train+eval s |");
            Console.WriteLine("|---|---|---|---|---|---|");
            foreach (var r in rows) Console.WriteLine(r);
            double gap = summary["fmnist_linear_probe"] - summary["fmnist_pcbm_h"];
            Console.WriteLine($"\nbottleneck: fmnist probe {summary["fmnist_linear_probe"]:F4} pcbm_h {summary["fmnist_pcbm_h"]:F4} (gap {gap * 100:F2} points) sparse_probe {summary["fmnist_sparse_probe"]:F4}; shapes probe {summary["shapes_linear_probe"]:F4} cbm {summary["shapes_cbm"]:F4}");
            return 0;
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            try { Directory.Delete(dataDir, true); } catch (IOException) { }
        }
    }

    sealed record Problem(string Name, Tensor X, Tensor Y, Tensor Xt, Tensor Yt, Tensor C, Tensor Ct, IReadOnlyList<string> ConceptNames, IReadOnlyList<string> ClassNames);

    static Tensor Pixels(Tensor images) => images.reshape(images.shape[0], -1).to(ScalarType.Float32) / 255f;

    /// <summary>Unit rows: the top principal directions of X (eigenvectors of the covariance).</summary>
    static Tensor PrincipalDirections(Tensor x, int count)
    {
        var xc = x - x.mean([0]);
        var cov = xc.t().matmul(xc) / x.shape[0];
        var (_, vectors) = linalg.eigh(cov);
        return vectors.flip(1).narrow(1, 0, count).t().contiguous();
    }

    static async Task<JobResult> Train(BottleneckService.BottleneckServiceClient client, TrainConfig config, List<(string, Tensor)> tensors)
    {
        using var call = client.Train();
        await call.RequestStream.WriteAsync(new TrainRequest { Config = config });
        foreach (var (name, t) in tensors)
            foreach (var b in TensorStreams.Split(t, name))
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
        await call.RequestStream.WriteAsync(new PredictRequest { Config = new PredictConfig { ModelId = id } });
        foreach (var b in TensorStreams.Split(x)) await call.RequestStream.WriteAsync(new PredictRequest { Block = b });
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
