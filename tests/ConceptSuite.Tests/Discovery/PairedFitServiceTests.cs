using System.Text.Json;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Tests.Infrastructure;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Tests.Discovery;

/// <summary>
/// The paired methods (cocca, scocca) through the Fit RPC: config.paired_activations, the
/// Encode/Decode modality, and every hostile variant of the paired input answered by a named error.
/// </summary>
public sealed class PairedFitServiceTests(DiscoveryServerFixture fx) : IClassFixture<DiscoveryServerFixture>
{
    static HostTensor Host(Tensor t) => DiscoveryServerFixture.Host(t);

    static DictionarySpec Spec(string method, int c, params (string, string)[] options) => DiscoveryServerFixture.Spec(method, c, options);

    /// <summary>Paired rows: x [n, 10] and y [n, 6] share 3 latent factors.</summary>
    static (Tensor X, Tensor Y) Pairs(int n, ulong seed)
    {
        using var g = new Generator(seed);
        var z = randn([n, 3], generator: g);
        var x = z.matmul(randn([3, 10], generator: g)) + 0.1f * randn([n, 10], generator: g);
        var y = z.matmul(randn([3, 6], generator: g)) + 0.1f * randn([n, 6], generator: g);
        return (x, y);
    }

    async Task<ArtifactRef> Stored(Tensor t, string tensor = "activations", string kind = "activations") =>
        (await fx.Store.PutAsync(kind, new Dictionary<string, Tensor> { [tensor] = t })).Ref;

    static async Task<JobResult> FitAsync(DiscoveryService.DiscoveryServiceClient client, FitConfig config)
    {
        using var call = client.Fit();
        await call.RequestStream.WriteAsync(new FitRequest { Config = config });
        await call.RequestStream.CompleteAsync();
        JobResult? result = null;
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
            if (call.ResponseStream.Current.EventCase == JobEvent.EventOneofCase.Result) result = call.ResponseStream.Current.Result;
        return result ?? throw new InvalidOperationException("no result");
    }

    static async Task<RpcException> FitFailsAsync(DiscoveryService.DiscoveryServiceClient client, FitConfig config) =>
        await Assert.ThrowsAsync<RpcException>(() => FitAsync(client, config));

    async Task<HostTensor> TransformAsync(DictionaryRef dref, HostTensor data, bool encode, string modality)
    {
        if (encode)
        {
            using var call = fx.Client.Encode();
            var reply = TensorStreamClient.ReadAsync(call.ResponseStream);
            await call.RequestStream.WriteAsync(new EncodeRequest { Config = new EncodeConfig { Dictionary = dref, Modality = modality } });
            foreach (var b in data.ToBlocks("", 64 << 10)) await call.RequestStream.WriteAsync(new EncodeRequest { Block = b });
            await call.RequestStream.CompleteAsync();
            return await reply;
        }
        using var dec = fx.Client.Decode();
        var decoded = TensorStreamClient.ReadAsync(dec.ResponseStream);
        await dec.RequestStream.WriteAsync(new DecodeRequest { Config = new DecodeConfig { Dictionary = dref, Modality = modality } });
        foreach (var b in data.ToBlocks("", 64 << 10)) await dec.RequestStream.WriteAsync(new DecodeRequest { Block = b });
        await dec.RequestStream.CompleteAsync();
        return await decoded;
    }

    [Fact]
    public async Task ScoccaFitsOnPairedArtifactsAndEncodesEitherModality()
    {
        var (x, y) = Pairs(400, 41);
        using var _x = x;
        using var _y = y;
        var config = new FitConfig { Activations = await Stored(x), PairedActivations = await Stored(y, "embeddings"), PairedTensor = "embeddings", Seed = 3 };
        config.Dictionaries.Add(Spec("scocca", 4, ("canonical_dims", "3"), ("sparsity", "0.05")));
        config.Dictionaries.Add(Spec("cocca", 3, ("canonical_dims", "3")));
        var result = await FitAsync(fx.Client, config);
        foreach (var name in new[] { "scocca_4", "cocca_3" })
            foreach (var m in new[] { "r2", "l0", "stability", "paired_r2", "paired_l0" })
                Assert.True(result.Metrics.ContainsKey($"{name}/{m}"), $"missing {name}/{m}");
        // Three shared factors and 10 % noise: three canonical pairs reconstruct most of either side.
        Assert.True(result.Metrics["cocca_3/r2"] > 0.9, $"R² {result.Metrics["cocca_3/r2"]}");
        Assert.True(result.Metrics["cocca_3/paired_r2"] > 0.9, $"paired R² {result.Metrics["cocca_3/paired_r2"]}");
        Assert.True(result.Metrics["scocca_4/l0"] < 4, $"L0 {result.Metrics["scocca_4/l0"]}");
        var meta = JsonDocument.Parse(result.Artifact.MetadataJson).RootElement;
        Assert.Equal(config.PairedActivations.Id, meta.GetProperty("paired_activations").GetString());

        var dref = new DictionaryRef { Artifact = result.Artifact.Ref, Name = "scocca_4" };
        var codesX = await TransformAsync(dref, Host(x), encode: true, "");
        var codesY = await TransformAsync(dref, Host(y), encode: true, "paired");
        Assert.Equal(new long[] { 400, 4 }, codesX.Shape);
        Assert.Equal(new long[] { 400, 4 }, codesY.Shape);
        Assert.Equal(new long[] { 400, 6 }, (await TransformAsync(dref, codesY, encode: false, "paired")).Shape);
        Assert.Equal(new long[] { 400, 10 }, (await TransformAsync(dref, codesX, encode: false, "activations")).Shape);
        // The two modalities of one example light up the same concepts: codes correlate row by row.
        using var cx = tensor(codesX.ToFloats()).reshape(400, 4);
        using var cy = tensor(codesY.ToFloats()).reshape(400, 4);
        using var cos = nn.functional.cosine_similarity(cx, cy, 1).nan_to_num().mean();
        Assert.True(cos.item<float>() > 0.8, $"mean cosine of paired codes {cos.item<float>()}");

        // NameConcepts names the image-side atoms through a bridge fitted on the same pairs.
        using var vocab = eye(6);
        var words = new[] { "a", "b", "c", "d", "e", "f" };
        var voc = await fx.Store.PutAsync("activations", new Dictionary<string, Tensor> { ["embeddings"] = vocab }, JsonSerializer.Serialize(new { words }));
        var names = await fx.Client.NameConceptsAsync(new NameConceptsRequest
        {
            Dictionary = dref, Vocabulary = voc.Ref,
            BridgePairs = new BridgePairs { ImageActivations = config.Activations, CaptionEmbeddings = config.PairedActivations },
        });
        Assert.Equal(4, names.Concepts.Count);
        Assert.All(names.Concepts, n => Assert.Contains(n.Name, words));
        Assert.True(names.BridgeR2 > 0.9, $"bridge R² {names.BridgeR2}");

        // The wrong width for the chosen modality, a modality a one-modality dictionary lacks, an unknown one.
        var e = await Assert.ThrowsAsync<RpcException>(() => TransformAsync(dref, Host(x), encode: true, "paired"));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.StartsWith("blocks[0].tensor.shape[1]:", e.Status.Detail);
        e = await Assert.ThrowsAsync<RpcException>(() => TransformAsync(dref, Host(x), encode: true, "text"));
        Assert.StartsWith("config.modality:", e.Status.Detail);
        var pca = new FitConfig { Activations = config.Activations, SkipStability = true };
        pca.Dictionaries.Add(Spec("pca", 2));
        var pcaRef = new DictionaryRef { Artifact = (await FitAsync(fx.Client, pca)).Artifact.Ref };
        e = await Assert.ThrowsAsync<RpcException>(() => TransformAsync(pcaRef, Host(y), encode: true, "paired"));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.StartsWith("config.modality:", e.Status.Detail);
    }

    [Fact]
    public async Task HostilePairedInputsAreRejectedNamingTheFieldAndTheServerKeepsServing()
    {
        var (x, y) = Pairs(50, 42);
        using var _x = x;
        using var _y = y;
        var xs = await Stored(x);
        var ys = await Stored(y);
        FitConfig Config(ArtifactRef? paired, params DictionarySpec[] specs)
        {
            var c = new FitConfig { Activations = xs, PairedActivations = paired, SkipStability = true };
            c.Dictionaries.Add(specs);
            return c;
        }
        async Task Rejected(FitConfig config, StatusCode code, string field, string? contains = null)
        {
            var e = await FitFailsAsync(fx.Client, config);
            Assert.Equal(code, e.StatusCode);
            Assert.StartsWith(field + ":", e.Status.Detail);
            if (contains is not null) Assert.Contains(contains, e.Status.Detail);
        }

        // Missing, or given to a one-modality method; a tensor without an artifact.
        await Rejected(Config(null, Spec("scocca", 2, ("canonical_dims", "2"))), StatusCode.InvalidArgument, "config.paired_activations", "config.dictionaries[0]");
        await Rejected(Config(ys, Spec("pca", 2)), StatusCode.InvalidArgument, "config.paired_activations", "no dictionary uses a paired method");
        var dangling = Config(null, Spec("pca", 2));
        dangling.PairedTensor = "embeddings";
        await Rejected(dangling, StatusCode.InvalidArgument, "config.paired_tensor");
        // Rows that do not pair one to one.
        using (var fewer = y.narrow(0, 0, 49))
            await Rejected(Config(await Stored(fewer), Spec("cocca", 2, ("canonical_dims", "2"))), StatusCode.InvalidArgument, "config.paired_activations", "49 samples");
        // Another artifact kind; a tensor the artifact does not hold; an id nothing has.
        await Rejected(Config(await Stored(y, "activations", "report"), Spec("cocca", 2, ("canonical_dims", "2"))), StatusCode.InvalidArgument, "config.paired_activations", "'report'");
        var wrongTensor = Config(ys, Spec("cocca", 2, ("canonical_dims", "2")));
        wrongTensor.PairedTensor = "embeddings";
        var nf = await FitFailsAsync(fx.Client, wrongTensor);
        Assert.Equal(StatusCode.NotFound, nf.StatusCode);
        Assert.Contains("config.paired_activations.tensor", nf.Status.Detail);
        Assert.Equal(StatusCode.NotFound, (await FitFailsAsync(fx.Client, Config(new ArtifactRef { Id = new string('c', 64) }, Spec("cocca", 2, ("canonical_dims", "2"))))).StatusCode);
        // Canonical dimensions past the schema's maximum, or past the narrower side (6).
        await Rejected(Config(ys, Spec("scocca", 2, ("canonical_dims", "1000000"))), StatusCode.InvalidArgument, "config.dictionaries[0].options.canonical_dims");
        await Rejected(Config(ys, Spec("scocca", 2, ("canonical_dims", "8"))), StatusCode.InvalidArgument, "config.dictionaries[0].canonical_dims", "paired width 6");
        // NaN in the paired rows.
        using (var nan = y.clone())
        {
            nan[7, 2] = tensor(float.NaN);
            await Rejected(Config(await Stored(nan), Spec("cocca", 2, ("canonical_dims", "2"))), StatusCode.InvalidArgument, "config.paired_activations", "NaN");
        }
        // Still serving: the same request with good paired rows fits.
        var ok = await FitAsync(fx.Client, Config(ys, Spec("cocca", 2, ("canonical_dims", "2"))));
        Assert.True(ok.Metrics["r2"] > 0.5);
    }

    [Fact]
    public async Task APairedFitOverThePerCallBudgetIsResourceExhaustedBeforeItStarts()
    {
        await using var server = await SuiteTestServer.StartAsync("discovery", null, ("ConceptSuite:MaxCallBytes", (1L << 20).ToString()));
        var client = new DiscoveryService.DiscoveryServiceClient(server.Channel);
        var store = server.Services.GetRequiredService<ArtifactStore>();
        // 4000 pairs of widths 10 and 6 need 4000 × (32 × 16 + 24 × (3 + 2)) bytes ≈ 2.5 MB: over 1 MiB.
        var (x, y) = Pairs(4000, 43);
        using var _x = x;
        using var _y = y;
        var config = new FitConfig
        {
            Activations = (await store.PutAsync("activations", new Dictionary<string, Tensor> { ["activations"] = x })).Ref,
            PairedActivations = (await store.PutAsync("activations", new Dictionary<string, Tensor> { ["activations"] = y })).Ref,
            SkipStability = true,
        };
        config.Dictionaries.Add(Spec("cocca", 2, ("canonical_dims", "3")));
        var e = await FitFailsAsync(client, config);
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.StartsWith("config.dictionaries[0]:", e.Status.Detail);
    }
}
