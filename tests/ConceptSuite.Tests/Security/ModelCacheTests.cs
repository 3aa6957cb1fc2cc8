using System.Text.Json;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Embedding.Models;
using ConceptSuite.Tests.Embedding;
using ConceptSuite.Tests.Infrastructure;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using TorchSharp;

namespace ConceptSuite.Tests.Security;

public sealed class ModelCacheTests
{
    static async Task<string> PutCnnAsync(ArtifactStore store, int classes)
    {
        using var net = new SmallCnn(1, 28, 28, classes);
        var state = net.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        var meta = JsonSerializer.Serialize(new BackboneMeta { Architecture = "cnn", Channels = 1, Height = 28, Width = 28, Classes = classes, DatasetId = "t", Epochs = 1 });
        return BackboneArtifacts.Prefix + (await store.PutAsync(BackboneArtifacts.Kind, state, meta)).Ref.Id;
    }

    [Fact]
    public async Task LoadedModelsAreBoundedByCountAndBytesLeastRecentlyUsedFirst()
    {
        // SmallCnn(1, 28, 28, c): 160 + 4640 + 200832 + 129·c parameters, 4 bytes each.
        static long Bytes(int classes) => 4L * (160 + 4640 + 200_832 + 129 * classes);
        await using var server = await SuiteTestServer.StartAsync("embedding", null,
            ("ConceptSuite:Embedding:MaxLoadedModels", "2"), ("ConceptSuite:Embedding:MaxLoadedModelBytes", (Bytes(10) + Bytes(11) + Bytes(12) - 1).ToString()));
        var store = server.Services.GetRequiredService<ArtifactStore>();
        var registry = server.Services.GetRequiredService<ModelRegistry>();
        var a = await PutCnnAsync(store, 10);
        var b = await PutCnnAsync(store, 11);
        var c = await PutCnnAsync(store, 12);
        var images = torch.zeros([1, 1, 28, 28], torch.ScalarType.Byte);
        foreach (var m in new[] { a, b, a, c })
        {
            var features = (await EmbedClient.EmbedTensorsAsync(server.Channel, m, images, ["features"]))["features"].Tensor;
            Assert.Equal(new long[] { 1, 128 }, features.shape);
        }
        Assert.Equal([c, a], registry.Loaded.Keys);                 // count bound 2: b, least recently used, went
        Assert.Equal(Bytes(10) + Bytes(12), registry.Loaded.Bytes);
        Assert.Equal(1, registry.Loaded.Evictions);

        // A byte bound below three models' weights: with a count bound of 2 it never binds; measure it with its own registry.
        await using var tight = await SuiteTestServer.StartAsync("embedding", null,
            ("ConceptSuite:Embedding:MaxLoadedModels", "8"), ("ConceptSuite:Embedding:MaxLoadedModelBytes", (Bytes(10) + Bytes(11) + Bytes(12) - 1).ToString()));
        var tightStore = tight.Services.GetRequiredService<ArtifactStore>();
        var tightRegistry = tight.Services.GetRequiredService<ModelRegistry>();
        var names = new[] { await PutCnnAsync(tightStore, 10), await PutCnnAsync(tightStore, 11), await PutCnnAsync(tightStore, 12) };
        foreach (var m in names) await EmbedClient.EmbedTensorsAsync(tight.Channel, m, images, ["features"]);
        Assert.Equal([names[2], names[1]], tightRegistry.Loaded.Keys);
        Assert.Equal(Bytes(11) + Bytes(12), tightRegistry.Loaded.Bytes);
    }

    [Fact]
    public async Task UndeclaredOnnxTapsAreRefusedUnlessAllowedAndTheirSessionsAreBounded()
    {
        var images = torch.zeros([1, 3, 32, 32], torch.ScalarType.Byte);
        await using (var closed = await SuiteTestServer.StartAsync("embedding"))
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => EmbedClient.EmbedTensorsAsync(closed.Channel, "resnet18", images, ["ReLU253_Output_0"]));
            Assert.Equal(StatusCode.NotFound, e.StatusCode);
            Assert.Contains("ReLU253_Output_0", e.Status.Detail);
        }

        await using var server = await SuiteTestServer.StartAsync("embedding", null,
            ("ConceptSuite:Embedding:AllowUndeclaredTaps", "true"), ("ConceptSuite:Embedding:MaxTapSessions", "2"));
        var registry = server.Services.GetRequiredService<ModelRegistry>();
        foreach (var tap in new[] { "ReLU253_Output_0", "ReLU261_Output_0", "ReLU253_Output_0", "ReLU269_Output_0" })
            await EmbedClient.EmbedTensorsAsync(server.Channel, "resnet18", images, ["pool", tap]);
        using var model = registry.Acquire("resnet18");
        var sessions = ((OnnxBackbone)model.Value.Backbone).TapSessions;
        Assert.Equal(["ReLU269_Output_0", "ReLU253_Output_0"], sessions.Keys);
        Assert.Equal(3, sessions.Creations);    // the repeated combination reused its session
        Assert.Equal(1, sessions.Evictions);
    }
}
