using ConceptSuite.Core.Data;
using ConceptSuite.Discovery.Abstractions;
using ConceptSuite.Discovery.Methods;
using ConceptSuite.Embedding.Data;
using ConceptSuite.Tests.Embedding;
using ConceptSuite.Tests.Infrastructure;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Tests.Bottleneck;

/// <summary>
/// ResNet18 features of the suite's image sets, computed once by the embedding stage (EmbedImages
/// on an in-process server) and kept in the activation cache (.cache/activations/&lt;name&gt;.safetensors),
/// so that the bottleneck tests train on real backbone features in seconds.
/// </summary>
public static class BackboneFeatures
{
    /// <summary>The first <paramref name="count"/> Fashion-MNIST images of a split: pool features [n, 512] and labels.</summary>
    public static async Task<(Tensor X, Tensor Y)> FashionMnistAsync(string split, int count)
    {
        var t = await LoadOrEmbedAsync($"fashion-mnist-{split}{count}-resnet18-pool", () => FashionMnist.Load(split, count), ["pool"],
            (taps, d) => new() { ["activations"] = taps["pool"], ["labels"] = d.Labels });
        return (t["activations"], t["labels"]);
    }

    /// <summary>
    /// Concept-shapes (<see cref="ConceptShapes.Generate"/> with this count and seed): "pool" [n, 512] (global
    /// average of layer4) and "layer4_2x2" [n, 2048] (layer4 averaged over a 2×2 grid, which keeps where the
    /// shape is), with the generated dataset for labels and concept labels.
    /// </summary>
    public static async Task<(Dictionary<string, Tensor> Features, ImageDataset Data)> ConceptShapesAsync(int count, int seed)
    {
        var t = await LoadOrEmbedAsync($"concept-shapes-{count}-seed{seed}-resnet18", () => ConceptShapes.Generate(count, seed), ["pool", "layer4"],
            (taps, d) => new() { ["pool"] = taps["pool"], ["layer4_2x2"] = nn.functional.adaptive_avg_pool2d(taps["layer4"], [2, 2]).flatten(1), ["labels"] = d.Labels });
        return (t, ConceptShapes.Generate(count, seed));
    }

    /// <summary>Discovered concepts for the sparse probe: <paramref name="atoms"/> NMF atoms [atoms, D] of non-negative features (the discovery stage's method).</summary>
    public static Tensor NmfAtoms(Tensor x, int atoms, long seed)
    {
        using var dictionary = DictionaryMethods.Create("nmf", atoms, null);
        dictionary.Fit(new TensorRowSource(x), FitContext.Default(seed));
        return dictionary.Atoms().clone();
    }

    static async Task<Dictionary<string, Tensor>> LoadOrEmbedAsync(string name, Func<ImageDataset> generate, string[] taps,
        Func<Dictionary<string, Tensor>, ImageDataset, Dictionary<string, Tensor>> toCache)
    {
        if (ActivationCache.TryLoad(name) is { } cached) return cached;
        using var data = generate();
        await using var server = await SuiteTestServer.StartAsync("embedding");
        var embedded = await EmbedClient.EmbedTensorsAsync(server.Channel, "resnet18", data.Images, taps);
        // The cache entry may share tensors with the dataset (its labels), which is disposed on return:
        // answer from the saved file, exactly as every later call does.
        ActivationCache.Save(name, toCache(embedded.ToDictionary(kv => kv.Key, kv => kv.Value.Tensor), data));
        return ActivationCache.TryLoad(name) ?? throw new IOException($"activation cache entry '{name}' was not written");
    }
}
