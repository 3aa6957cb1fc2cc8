using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Data;
using ConceptSuite.Embedding.Data;
using ConceptSuite.Tests.Embedding;
using ConceptSuite.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using TorchSharp;
using Xunit.Abstractions;
using static ConceptSuite.Tests.Explain.ExplainFixtures;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Tests.Explain;

/// <summary>
/// Done-when of the explain stage on real data: 300 Fashion-MNIST test images through two
/// backbones served by the embedding stage (the bundled ResNet18 and the built-in CNN, trained
/// here through TrainBackbone on 2000 training images), then through the explain stage's RPCs:
/// linear CKA between every pair of their layers (spatial taps global-average-pooled to [N, C]),
/// ResNet18 taps layer2, layer3, pool; CNN taps conv1, conv2, features, logits. Then
/// Hungarian matching of the CNN's feature units to ResNet18's pooled units, and class importance
/// with clusters, using the CNN's own split features → linear head → logits. ResNet18's pooled
/// taps of these 300 images are kept in the activation cache
/// (.cache/activations/fashion-mnist-test300-resnet18-gap.safetensors) after the first run, which
/// embeds them through EmbedImages (≈ 2.5 min on the loaded 2-core machine; the CNN is always
/// trained and embedded through the RPCs).
/// </summary>
public sealed class FashionMnistComparisonTests(ITestOutputHelper output)
{
    static readonly string[] ResNetTaps = ["layer2", "layer3", "pool"];
    static readonly string[] CnnTaps = ["conv1", "conv2", "features", "logits"];

    /// <summary>[N, C, H, W] taps averaged over space; vectors as they are; float64.</summary>
    static Tensor Pooled(Tensor t) => (t.dim() == 4 ? t.mean([2, 3]) : t).to_type(ScalarType.Float64);

    static async Task<CompareRepresentationsResponse> CompareAsync(ExplainService.ExplainServiceClient client, CompareRepresentationsConfig cfg, Tensor a, Tensor b)
    {
        using var call = client.CompareRepresentations();
        await SendAsync(call.RequestStream, new CompareRepresentationsRequest { Config = cfg }, blk => new CompareRepresentationsRequest { Block = blk }, 1 << 20, ("a", a), ("b", b));
        return await call.ResponseAsync;
    }

    [Fact]
    public async Task ResNet18AndTheBuiltinCnnCompareLayersMatchUnitsAndClusterClassImportance()
    {
        await using var server = await SuiteTestServer.StartAsync("embedding,explain");
        var embed = new EmbeddingService.EmbeddingServiceClient(server.Channel);
        var explain = new ExplainService.ExplainServiceClient(server.Channel);
        var sw = System.Diagnostics.Stopwatch.StartNew();

        using var import = embed.ImportDataset();
        await import.RequestStream.WriteAsync(new ImportDatasetRequest { Header = new ImportDatasetHeader { Source = "fashion-mnist:train", Limit = 2000 } });
        await import.RequestStream.CompleteAsync();
        var dataset = await import.ResponseAsync;
        var trained = (await EmbedClient.DrainAsync(embed.TrainBackbone(new TrainBackboneRequest
        { Dataset = new ArtifactRef { Id = dataset.Ref.Id }, Architecture = "cnn", Epochs = 3, BatchSize = 32, Seed = 1 }))).Last().Result;
        var cnn = "backbone:" + trained.Artifact.Ref.Id;
        output.WriteLine($"cnn: 3 epochs on 2000 images, train accuracy {trained.Metrics["train_accuracy"]:F3} ({sw.Elapsed.TotalSeconds:F1} s)");

        using var test = FashionMnist.Load("test", 300);
        const string cacheName = "fashion-mnist-test300-resnet18-gap";
        var resnet = ActivationCache.TryLoad(cacheName);
        if (resnet is null || !ResNetTaps.All(resnet.ContainsKey))
        {
            var embedded = await EmbedClient.EmbedTensorsAsync(server.Channel, "resnet18", test.Images, ResNetTaps);
            resnet = ResNetTaps.ToDictionary(t => t, t => Pooled(embedded[t].Tensor));
            ActivationCache.Save(cacheName, resnet);
        }
        var small = (await EmbedClient.EmbedTensorsAsync(server.Channel, cnn, test.Images, CnnTaps)).ToDictionary(kv => kv.Key, kv => kv.Value.Tensor);
        output.WriteLine($"embedded 300 images with both backbones ({sw.Elapsed.TotalSeconds:F1} s)");

        // CKA between every pair of layers, and of each layer with itself.
        var cka = new CompareRepresentationsConfig { Similarities = { "linear_cka" } };
        var table = new double[ResNetTaps.Length, CnnTaps.Length];
        for (int i = 0; i < ResNetTaps.Length; i++)
            for (int j = 0; j < CnnTaps.Length; j++)
                table[i, j] = (await CompareAsync(explain, cka, resnet[ResNetTaps[i]], Pooled(small[CnnTaps[j]]))).Similarities["linear_cka"];
        output.WriteLine("linear CKA, rows ResNet18 " + string.Join("/", ResNetTaps) + ", columns CNN " + string.Join("/", CnnTaps));
        for (int i = 0; i < ResNetTaps.Length; i++)
            output.WriteLine($"  {ResNetTaps[i],-8} " + string.Join(" ", Enumerable.Range(0, CnnTaps.Length).Select(j => table[i, j].ToString("F3"))));
        var self = await CompareAsync(explain, cka, resnet["pool"], resnet["pool"]);
        Assert.Equal(1.0, self.Similarities["linear_cka"], 9);
        // Measured (three runs, identical): the CNN's 128 features are closest to ResNet18's layer3
        // (0.829) and pool (0.698); its conv taps, averaged over space, only 0.36-0.42 from any layer.
        Assert.InRange(table[1, 2], 0.78, 0.88);
        Assert.InRange(table[2, 2], 0.65, 0.75);
        for (int i = 0; i < ResNetTaps.Length; i++) Assert.True(table[i, 0] < table[i, 2] - 0.2, $"{ResNetTaps[i]}: conv1 {table[i, 0]:F3} vs features {table[i, 2]:F3}");

        // Units: the CNN's 128 feature units matched one-to-one to ResNet18's 512 pooled units.
        var matching = (await CompareAsync(explain, new CompareRepresentationsConfig { MatchUnits = true },
            Pooled(small["features"]), resnet["pool"])).Matching;
        var partners = matching.Partner.ToArray();
        Assert.Equal(128, partners.Length);
        Assert.Equal(128, partners.Distinct().Count());
        var matched = matching.PartnerCorrelation.Where(double.IsFinite).ToArray();
        output.WriteLine($"unit matching features→pool: {matched.Length} matched units, mean correlation {matching.MeanMatchedCorrelation:F3}, " +
            $"best {matched.Max():F3}, semi-matching mean {matching.SemiCorrelation.Where(double.IsFinite).Average():F3}");
        Assert.InRange(matching.MeanMatchedCorrelation, 0.28, 0.39);   // measured 0.333 (best pair 0.790)
        Assert.True(matching.SemiCorrelation.Where(double.IsFinite).Average() >= matching.MeanMatchedCorrelation);   // each unit's best partner, no exclusivity

        // Class importance of class 0 (T-shirt/top): the CNN's features are the concept
        // coefficients, its last linear layer the head. For a linear head gradient × input sums to
        // the logit minus the bias, so the class importance sums to the class's mean logit − b.
        var store = server.Services.GetRequiredService<ArtifactStore>();
        Tensor weight, bias;
        using (var reader = store.Open(trained.Artifact.Ref.Id)) { weight = reader.Read("head.weight"); bias = reader.Read("head.bias"); }
        var features = small["features"];
        var logits = small["logits"].to_type(ScalarType.Float64);
        var ci = new ClassImportanceConfig { Importance = new() { Method = "gradient_input" }, ClassIndex = 0, Clusters = 3, Exemplars = 2, DominantConcepts = 3 };
        using var call = explain.ClassImportance();
        await SendAsync(call.RequestStream, new ClassImportanceRequest { Config = ci }, blk => new ClassImportanceRequest { Block = blk }, 1 << 20,
            ("coefficients", features), ("targets", test.Labels), ("labels", test.Labels), ("head_weight", weight), ("head_bias", bias));
        var report = await call.ResponseAsync;
        var rows = test.Labels.eq(0).nonzero().squeeze(1);
        double expected = (logits.index_select(0, rows).select(1, 0) - bias[0].to_type(ScalarType.Float64)).mean().item<double>();
        output.WriteLine($"class 0: {report.Samples} samples, Σ importance {report.Importance.Sum():F4} (mean logit − bias {expected:F4}); clusters " +
            string.Join("; ", report.Clusters.Select(c => $"{c.Members.Count} members, dominant units {string.Join(",", c.DominantConcepts)}")));
        output.WriteLine($"total {sw.Elapsed.TotalSeconds:F1} s");
        Assert.Equal((int)rows.shape[0], report.Samples);
        Assert.Equal(expected, report.Importance.Sum(), 3);
        Assert.Equal(3, report.Clusters.Count);
        Assert.Equal(rows.data<long>().ToArray().Order(), report.Clusters.SelectMany(c => c.Members).Order());
        Assert.All(report.Clusters, c => Assert.Equal(3, c.DominantConcepts.Count));
    }
}
