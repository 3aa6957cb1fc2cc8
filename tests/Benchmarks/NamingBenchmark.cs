using System.Diagnostics;
using System.Globalization;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Data;
using ConceptSuite.Discovery.Abstractions;
using ConceptSuite.Discovery.Methods;
using ConceptSuite.Discovery.Naming;
using ConceptSuite.Embedding.Text;
using ConceptSuite.Server;
using Microsoft.Extensions.DependencyInjection;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Benchmarks;

/// <summary>
/// Are concept names right? Ground truth from two data sets: concept-shapes (every image's factor
/// values: shape, colour, size, texture, background, position) and Fashion-MNIST (the class and
/// the pixel attributes of <see cref="FashionPixelAttributes"/>). Captions say those values; ResNet18
/// features come from the embedding stage (cached); SAE, NMF and PCA dictionaries are fitted on the
/// training features; each concept is named (<see cref="ConceptNamer"/>) and matched to the value its
/// activation on the test images detects best (<see cref="NamingAccuracy"/>: AUC ≥ 0.9 is well matched,
/// right when the name is the value's word or a WordNet synonym). Prints one row per data set,
/// dictionary and naming variant, and last
/// "naming shapes-accuracy=A shapes-matched=M fashion-distinct=D fashion-accuracy=F" for the
/// suite's naming (the SAE dictionary, as the workflows use).
/// Options: --shapes-train (1000), --shapes-test (500), --fashion-train (1000), --fashion-test (500),
/// --concepts (32), --vocabulary (1000 WordNet words), --sae-k (8), --tap (pool or layer4_2x2), --verbose (per-concept matches).
/// </summary>
public static class NamingBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        int Arg(string name, int def) { var i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : def; }
        int sTrain = Arg("--shapes-train", 1000), sTest = Arg("--shapes-test", 500), fTrain = Arg("--fashion-train", 1000), fTest = Arg("--fashion-test", 500);
        int concepts = Arg("--concepts", 32), vocabularySize = Arg("--vocabulary", 1000), saeK = Arg("--sae-k", 8);
        string tap = args.SkipWhile(a => a != "--tap").Skip(1).FirstOrDefault() ?? "pool";
        bool verbose = args.Contains("--verbose");
        torch.set_num_threads(Math.Max(1, Environment.ProcessorCount));
        var dataDir = Path.Combine(Path.GetTempPath(), "cs-naming-bench-" + Guid.NewGuid().ToString("N"));
        int port = Loopback.FreePort();
        var app = SuiteApp.Create(["--stages", "embedding", "--data-dir", dataDir, "--listen", $"http://127.0.0.1:{port}", "--metrics", "",
            "--Logging:LogLevel:Default=Warning"]);
        await app.StartAsync();
        try
        {
            using var channel = SuiteChannel.Create($"http://127.0.0.1:{port}");
            var embedder = new EmbeddingService.EmbeddingServiceClient(channel);
            var store = app.Services.GetRequiredService<ArtifactStore>();
            var wall = Stopwatch.StartNew();
            using var text = new MiniLmEncoder();
            var synsets = WordNetSynsets.Read();
            var wordnet = WordNetVocabulary.Read(maxWords: vocabularySize).Words.Select(w => w.Word).ToList();

            // concept-shapes: the 16 factor values are the ground truth.
            using var strain = ConceptShapes.Generate(sTrain, 1);
            using var stest = ConceptShapes.Generate(sTest, 2);
            var sx = await BottleneckBenchmark.Features(embedder, store, strain, $"concept-shapes-{sTrain}-seed1-resnet18");
            var sxt = await BottleneckBenchmark.Features(embedder, store, stest, $"concept-shapes-{sTest}-seed2-resnet18");
            var shapeValues = ConceptShapes.ConceptNames.Select(n => n.Replace(" background", "")).ToList();
            var shapes = new NamingProblem("concept-shapes", sx[tap], sxt[tap], strain.Captions!,
                shapeValues, Truth(stest.ConceptLabels!));

            // Fashion-MNIST: the class words and the measured pixel attributes.
            using var ftrain = FashionMnist.Load("train", fTrain);
            using var ftest = FashionMnist.Load("test", fTest);
            var fx = (await BottleneckBenchmark.Features(embedder, store, ftrain, $"fashion-mnist-train{fTrain}-resnet18-pool"))["activations"];
            var fxt = (await BottleneckBenchmark.Features(embedder, store, ftest, $"fashion-mnist-test{fTest}-resnet18-pool"))["activations"];
            var fashionValues = FashionMnist.ClassNames.Concat(FashionPixelAttributes.Words).ToList();
            var fashion = new NamingProblem("fashion-mnist", fx, fxt, ftrain.Captions!, fashionValues, FashionTruth(ftest, fashionValues));
            Console.WriteLine($"features ready in {wall.Elapsed.TotalSeconds:F1} s");

            Console.WriteLine($"{"data",-15} {"dictionary",-10} {"naming",-36} {"accuracy",9} {"matched",8} {"right/well",11} {"distinct",9} {"right/all",10}");
            var summary = new Dictionary<string, NamingAccuracy.Result>();
            foreach (var problem in new[] { shapes, fashion })
            {
                var captionWords = CaptionVocabulary.Words(problem.Captions);
                var vocabularies = new (string Label, List<string> Words)[]
                {
                    ("caption words", captionWords),
                    ("caption words + WordNet", captionWords.Concat(wordnet).Distinct(StringComparer.Ordinal).ToList()),
                };
                var distinct = problem.Captions.Distinct(StringComparer.Ordinal).ToList();
                using var distinctEmb = text.Encode(distinct, default);
                var rowOf = distinct.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => (long)p.i, StringComparer.Ordinal);
                using var rows = tensor(problem.Captions.Select(c => rowOf[c]).ToArray());
                using var captions = distinctEmb.index_select(0, rows);
                // A value is named right by its word, any word of a several-word value ("ankle boot": "boot";
                // "t-shirt/top": "top"), or a WordNet synonym of either.
                var accepted = problem.Values.Select(v => (IReadOnlySet<string>)synsets.Accepted(v)).ToList();
                foreach (var method in new[] { "topk_sae", "nmf", "pca" })
                {
                    using var dict = DictionaryMethods.Create(method, concepts, method == "topk_sae" ? new Dictionary<string, string> { ["k"] = saeK.ToString(CultureInfo.InvariantCulture), ["epochs"] = "60", ["batch_size"] = "128" } : null);
                    dict.Fit(new TensorRowSource(problem.Train), FitContext.Default(0));
                    using var scope = NewDisposeScope();
                    var trainCodes = dict.Encode(problem.Train);
                    var testCodes = dict.Encode(problem.Test).t().contiguous();
                    var activations = Enumerable.Range(0, concepts).Select(c => testCodes[c].data<float>().ToArray()).ToList();
                    foreach (var (vLabel, words) in vocabularies)
                    {
                        var vocab = text.Encode(words, default);
                        foreach (var mode in new[] { NamingMode.Bridge, NamingMode.Direction })
                            foreach (bool centred in new[] { false })
                            {
                                var names = ConceptNamer.NameWith(mode, dict.Atoms(), problem.Train, trainCodes, captions, vocab, centred, 1).Select(n => words[(int)n[0]]).ToList();
                                var r = NamingAccuracy.Score(activations, problem.Truth, accepted, names);
                                string label = $"{mode.ToString().ToLowerInvariant()}{(centred ? "/centred" : "")}, {vLabel}";
                                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                                    $"{problem.Name,-15} {method,-10} {label,-36} {r.Accuracy,9:F3} {r.Matched,8:F3} {r.NamedRight,5}/{r.WellMatched,-5} {names.Distinct().Count(),9} {r.Concepts.Count(m => m.Correct),6}/{r.Concepts.Count,-3}"));
                                summary[$"{problem.Name}|{method}|{label}"] = r;
                                if (verbose && vLabel == "caption words")
                                    Console.WriteLine("    " + string.Join(" ", r.Concepts.OrderByDescending(m => m.Auc).Select(m =>
                                        string.Create(CultureInfo.InvariantCulture, $"{m.Name}~{problem.Values[m.Value]}:{m.Auc:F2}"))));
                            }
                    }
                }
            }
            Console.WriteLine($"total {wall.Elapsed.TotalSeconds:F1} s");
            // The suite's naming: per-concept text directions (code–caption covariance), caption words + WordNet.
            const string suite = "direction, caption words + WordNet";
            NamingAccuracy.Result R(string data, string method) => summary[$"{data}|{method}|{suite}"];
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"naming-dictionaries shapes sae={R("concept-shapes", "topk_sae").Accuracy:F3}/{R("concept-shapes", "topk_sae").Matched:F3} nmf={R("concept-shapes", "nmf").Accuracy:F3}/{R("concept-shapes", "nmf").Matched:F3} pca={R("concept-shapes", "pca").Accuracy:F3}/{R("concept-shapes", "pca").Matched:F3} " +
                $"fashion sae={R("fashion-mnist", "topk_sae").Accuracy:F3}/{R("fashion-mnist", "topk_sae").Matched:F3} nmf={R("fashion-mnist", "nmf").Accuracy:F3}/{R("fashion-mnist", "nmf").Matched:F3} pca={R("fashion-mnist", "pca").Accuracy:F3}/{R("fashion-mnist", "pca").Matched:F3} (accuracy/matched)"));
            var shapesSae = R("concept-shapes", "topk_sae");
            var fashionSae = R("fashion-mnist", "topk_sae");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"naming shapes-accuracy={shapesSae.Accuracy:F3} shapes-matched={shapesSae.Matched:F3} fashion-distinct={fashionSae.Concepts.Select(c => c.Name).Distinct().Count()} fashion-accuracy={fashionSae.Accuracy:F3}"));
            return 0;
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            try { Directory.Delete(dataDir, true); } catch (IOException) { }
        }
    }

    sealed record NamingProblem(string Name, Tensor Train, Tensor Test, IReadOnlyList<string> Captions, IReadOnlyList<string> Values, IReadOnlyList<bool[]> Truth);

    static List<bool[]> Truth(Tensor labels)
    {
        var t = labels.t().contiguous();
        return Enumerable.Range(0, (int)t.shape[0]).Select(v => t[v].data<float>().ToArray().Select(x => x > 0.5f).ToArray()).ToList();
    }

    static List<bool[]> FashionTruth(ImageDataset d, IReadOnlyList<string> values)
    {
        int n = (int)d.Count;
        var truth = values.Select(_ => new bool[n]).ToList();
        var labels = d.Labels.data<long>().ToArray();
        var pixels = d.Images.contiguous().data<byte>().ToArray();
        for (int i = 0; i < n; i++)
        {
            truth[(int)labels[i]][i] = true;
            foreach (var w in FashionPixelAttributes.Describe(pixels.AsSpan(i * 784, 784), (int)labels[i]))
                truth[FashionMnist.ClassNames.Count + FashionPixelAttributes.Words.ToList().IndexOf(w)][i] = true;
        }
        return truth;
    }
}
