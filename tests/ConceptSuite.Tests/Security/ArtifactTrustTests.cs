using System.Text.Json;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Embedding.Models;
using ConceptSuite.Tests.Embedding;
using ConceptSuite.Tests.Infrastructure;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using TorchSharp;

namespace ConceptSuite.Tests.Security;

public sealed class ArtifactTrustTests
{
    const string StageKey = "stage-key-for-tests";
    const string ClientKey = "client-key-for-tests";

    static GrpcChannel Channel(SuiteTestServer server, string? key) => server.ChannelWithKey(key);

    static async Task<ArtifactInfo> PutAsync(GrpcChannel channel, string kind, string meta = "{}", bool viaGateway = false)
    {
        var t = HostTensor.FromFloats([1f, 2f, 3f, 4f], 2, 2);
        using var call = viaGateway ? new GatewayService.GatewayServiceClient(channel).PutArtifact() : new ArtifactService.ArtifactServiceClient(channel).PutArtifact();
        await call.RequestStream.WriteAsync(new PutArtifactRequest { Header = new PutArtifactHeader { Kind = kind, MetadataJson = meta } });
        foreach (var b in t.ToBlocks("x", 1 << 20)) await call.RequestStream.WriteAsync(new PutArtifactRequest { Block = b });
        await call.RequestStream.CompleteAsync();
        return await call.ResponseAsync;
    }

    [Fact]
    public async Task OnlyAStageKeyWritesStageProducedKindsDirectlyOrThroughTheGateway()
    {
        await using var server = await Gateway.GatewayHarness.StartAsync("all", ("ConceptSuite:Security:ApiKeys:0", ClientKey), ("ConceptSuite:Security:StageKeys:0", StageKey));
        using var client = Channel(server, ClientKey);
        using var stage = Channel(server, StageKey);
        foreach (var kind in ArtifactKinds.StageProduced)
            foreach (var viaGateway in new[] { false, true })
            {
                var e = await Assert.ThrowsAsync<RpcException>(() => PutAsync(client, kind, viaGateway: viaGateway));
                Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
                Assert.StartsWith("header.kind:", e.Status.Detail);
                Assert.Contains($"'{kind}'", e.Status.Detail);
            }
        // Data is the client's to upload; a stage key (the gateway's transfers) writes any kind.
        Assert.Equal("activations", (await PutAsync(client, "activations", viaGateway: true)).Ref.Kind);
        Assert.Equal("activations", (await PutAsync(client, "activations")).Ref.Kind);
        Assert.Equal("backbone", (await PutAsync(stage, "backbone")).Ref.Kind);
        Assert.Equal("report", (await PutAsync(stage, "report", viaGateway: true)).Ref.Kind);
    }

    static Dictionary<string, torch.Tensor> CnnState(int channels, int side, int classes)
    {
        using var net = new SmallCnn(channels, side, side, classes);
        return net.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
    }

    static string Meta(string architecture, int channels, int side, int classes) => JsonSerializer.Serialize(new BackboneMeta
    {
        Architecture = architecture, Channels = channels, Height = side, Width = side, Classes = classes, DatasetId = "test", Epochs = 1,
    });

    [Fact]
    public async Task ForgedBackboneMetadataIsRefusedBeforeANetworkIsBuiltAndListModelsLoadsNothing()
    {
        await using var server = await SuiteTestServer.StartAsync("embedding");
        var store = server.Services.GetRequiredService<ArtifactStore>();
        var registry = server.Services.GetRequiredService<ModelRegistry>();
        var embedding = new EmbeddingService.EmbeddingServiceClient(server.Channel);

        var good = await store.PutAsync(BackboneArtifacts.Kind, CnnState(1, 28, 10), Meta("cnn", 1, 28, 10));
        // A 65536-pixel side would make Linear(32·16384·16384, 128): 4 TiB of weights.
        var huge = await store.PutAsync(BackboneArtifacts.Kind, CnnState(1, 28, 10), Meta("cnn", 1, 65536, 10));
        var manyClasses = await store.PutAsync(BackboneArtifacts.Kind, CnnState(1, 28, 10), Meta("cnn", 1, 28, int.MaxValue));
        var unknown = await store.PutAsync(BackboneArtifacts.Kind, CnnState(1, 28, 10), Meta("resnet9000", 1, 28, 10));
        // Sizes in range but the tensors of another network: refused when the weights are read, not copied.
        var mismatched = await store.PutAsync(BackboneArtifacts.Kind, CnnState(1, 28, 10), Meta("cnn", 1, 32, 10));
        var notJson = await store.PutAsync(BackboneArtifacts.Kind, CnnState(1, 28, 10), "{\"height\": \"tall\"}");

        var listed = (await embedding.ListModelsAsync(new ListModelsRequest())).Models.Select(m => m.Name).ToList();
        Assert.Contains(BackboneArtifacts.Prefix + good.Ref.Id, listed);
        foreach (var bad in new[] { huge, manyClasses, unknown, notJson }) Assert.DoesNotContain(BackboneArtifacts.Prefix + bad.Ref.Id, listed);
        // Listing read backbone metadata only (the bundled ResNet18 is measured once by a forward pass).
        Assert.DoesNotContain(registry.Loaded.Keys, k => k.StartsWith(BackboneArtifacts.Prefix));

        foreach (var (bad, expect) in new[] { (huge, "outside [4, 256]"), (manyClasses, "classes 2147483647 outside"), (unknown, "unknown architecture"), (notJson, "metadata is not valid") })
        {
            var e = await Assert.ThrowsAsync<RpcException>(async () => await embedding.GetModelAsync(new GetEmbeddingModelRequest { Name = BackboneArtifacts.Prefix + bad.Ref.Id }));
            Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
            Assert.Contains(expect, e.Status.Detail);
            Assert.StartsWith("name", e.Status.Detail);
        }
        var images = torch.zeros([2, 1, 32, 32], torch.ScalarType.Byte);
        var m = await Assert.ThrowsAsync<RpcException>(() => EmbedClient.EmbedTensorsAsync(server.Channel, BackboneArtifacts.Prefix + mismatched.Ref.Id, images));
        Assert.Equal(StatusCode.InvalidArgument, m.StatusCode);
        Assert.Contains("the network needs [128, 2048]", m.Status.Detail);
        Assert.DoesNotContain(registry.Loaded.Keys, k => k.StartsWith(BackboneArtifacts.Prefix));

        // The description read from metadata equals the loaded network's measured taps.
        var described = await embedding.GetModelAsync(new GetEmbeddingModelRequest { Name = BackboneArtifacts.Prefix + good.Ref.Id });
        Assert.DoesNotContain(registry.Loaded.Keys, k => k.StartsWith(BackboneArtifacts.Prefix));
        using var loaded = registry.Acquire(BackboneArtifacts.Prefix + good.Ref.Id);
        var probed = loaded.Value.Backbone.Taps;
        Assert.Equal(probed.Select(t => (t.Name, string.Join("x", t.Shape), t.Layout)), described.Taps.Select(t => (t.Name, string.Join("x", t.Shape), t.Layout)));
        Assert.Equal(["features:128", "conv1:16x28x28", "conv2:32x14x14", "logits:10"], described.Taps.Select(t => $"{t.Name}:{string.Join("x", t.Shape)}"));
    }
}
