using System.Text.Json;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Concepts;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Tests.Infrastructure;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;
using S = ConceptSuite.Tests.Bottleneck.SyntheticConcepts;

namespace ConceptSuite.Tests.Bottleneck;

/// <summary>One in-process server with a trained CBM and a trained PCBM-h, shared by the RPC tests.</summary>
public sealed class BottleneckServerFixture : IAsyncLifetime
{
    public SuiteTestServer Server { get; private set; } = null!;
    public BottleneckService.BottleneckServiceClient Client { get; private set; } = null!;
    public JobResult Cbm { get; private set; } = null!;
    public JobResult PcbmH { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await SuiteTestServer.StartAsync("bottleneck");
        Client = new BottleneckService.BottleneckServiceClient(Server.Channel);
        var (x, y, c) = S.Generate(600, 21);
        var (ex, ey, ec) = S.Generate(300, 22);
        Cbm = await TrainAsync(Client, Config("cbm"), ("features", x), ("labels", y), ("concept_labels", c),
            ("eval_features", ex), ("eval_labels", ey), ("eval_concept_labels", ec));
        PcbmH = await TrainAsync(Client, Config("pcbm_h"), ("features", x), ("labels", y), ("concept_labels", c));
    }

    public static TrainConfig Config(string type)
    {
        var config = new TrainConfig { ModelType = type, Seed = 1 };
        config.ConceptNames.Add(S.ConceptNames);
        config.ClassNames.Add(S.ClassNames);
        return config;
    }

    /// <summary>Runs a Train call to its result; an error event or status surfaces as RpcException.</summary>
    public static async Task<JobResult> TrainAsync(BottleneckService.BottleneckServiceClient client, TrainConfig config, params (string Name, Tensor Tensor)[] tensors)
    {
        using var call = client.Train();
        await SendAsync(call.RequestStream, async w =>
        {
            await w.WriteAsync(new TrainRequest { Config = config });
            foreach (var (name, t) in tensors)
                foreach (var b in TensorStreams.Split(t, name, null, TensorBlocks.DefaultMaxBlockBytes))
                    await w.WriteAsync(new TrainRequest { Block = b });
        });
        JobResult? result = null;
        await foreach (var e in call.ResponseStream.ReadAllAsync())
            if (e.EventCase == JobEvent.EventOneofCase.Result) result = e.Result;
        return result ?? throw new InvalidOperationException("no result event");
    }

    /// <summary>
    /// Writes a request stream; when the server rejects the call before reading all of it the
    /// write fails, and the call's real status is read from the response stream instead.
    /// </summary>
    public static async Task SendAsync<T>(IClientStreamWriter<T> writer, Func<IClientStreamWriter<T>, Task> write)
    {
        try
        {
            await write(writer);
            await writer.CompleteAsync();
        }
        catch (RpcException) { }
        catch (InvalidOperationException) { }
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>Good and bad input for every RPC of BottleneckService through the in-process server.</summary>
public class BottleneckServiceTests(BottleneckServerFixture f) : IClassFixture<BottleneckServerFixture>
{
    ConceptModel Local(JobResult r) => ConceptModel.Load(f.Server.Services.GetRequiredService<ArtifactStore>(), r.Artifact.Ref.Id, null, "model");

    internal static async Task<Dictionary<string, Tensor>> Collect<T>(IAsyncStreamReader<T> stream, Func<T, TensorBlock> block)
    {
        var blocks = new List<TensorBlock>();
        await foreach (var m in stream.ReadAllAsync()) blocks.Add(block(m));
        var all = await TensorStreams.AssembleAllAsync(Async(blocks), new TensorStreamRules { RejectEmpty = false });
        return all.ToDictionary(kv => kv.Key, kv => kv.Value.Tensor);
    }

    static async IAsyncEnumerable<TensorBlock> Async(IEnumerable<TensorBlock> blocks)
    {
        foreach (var b in blocks) yield return b;
        await Task.CompletedTask;
    }

    /// <summary>Runs Predict on inputs [N, D]; returns "logits", "concepts", "predictions".</summary>
    internal static async Task<Dictionary<string, Tensor>> Predict(BottleneckService.BottleneckServiceClient client, string modelId, Tensor x)
    {
        using var call = client.Predict();
        await BottleneckServerFixture.SendAsync(call.RequestStream, async w =>
        {
            await w.WriteAsync(new PredictRequest { Config = new PredictConfig { Model = new ArtifactRef { Id = modelId } } });
            foreach (var b in TensorStreams.Split(x, "", null, TensorBlocks.DefaultMaxBlockBytes)) await w.WriteAsync(new PredictRequest { Block = b });
        });
        return await Collect(call.ResponseStream, r => r.Block);
    }

    internal static void AssertInvalid(RpcException e, string field, StatusCode code = StatusCode.InvalidArgument)
    {
        Assert.Equal(code, e.StatusCode);
        Assert.Contains(field, e.Status.Detail);
    }

    [Fact]
    public void TrainStoresAModelWithMeasuredMetrics()
    {
        Assert.Equal("bottleneck", f.Cbm.Artifact.Ref.Kind);
        // Measured on the synthetic set (600 train / 300 eval rows): eval accuracy and concept accuracy.
        Assert.True(f.Cbm.Metrics["eval_concept_accuracy"] >= 0.9, $"eval concept accuracy {f.Cbm.Metrics["eval_concept_accuracy"]}");
        Assert.True(f.Cbm.Metrics["eval_accuracy"] >= 0.7, $"eval accuracy {f.Cbm.Metrics["eval_accuracy"]}");
        Assert.True(f.PcbmH.Metrics.ContainsKey("pcbm_train_accuracy"));
    }

    [Fact]
    public async Task TrainWithTheSameInputsIsAnsweredFromTheStore()
    {
        var (x, y, c) = S.Generate(600, 21);
        var again = await BottleneckServerFixture.TrainAsync(f.Client, BottleneckServerFixture.Config("pcbm_h"), ("features", x), ("labels", y), ("concept_labels", c));
        Assert.True(again.Cached);
        Assert.Equal(f.PcbmH.Artifact.Ref.Id, again.Artifact.Ref.Id);
    }

    [Fact]
    public async Task TrainRejectsLabelCountNotEqualToRowCount()
    {
        var (x, y, _) = S.Generate(100, 1);
        var e = await Assert.ThrowsAsync<RpcException>(() => BottleneckServerFixture.TrainAsync(f.Client, BottleneckServerFixture.Config("linear_probe"),
            ("features", x), ("labels", y.narrow(0, 0, 90))));
        AssertInvalid(e, "labels");
        Assert.Contains("90 labels for 100", e.Status.Detail);
    }

    [Fact]
    public async Task TrainRejectsClassesWithNoSamples()
    {
        var (x, y, _) = S.Generate(100, 1);
        var config = BottleneckServerFixture.Config("linear_probe");
        config.ClassNames.Add("unseen");
        var e = await Assert.ThrowsAsync<RpcException>(() => BottleneckServerFixture.TrainAsync(f.Client, config, ("features", x), ("labels", y)));
        AssertInvalid(e, "labels");
        Assert.Contains("'unseen' has no samples", e.Status.Detail);
    }

    [Fact]
    public async Task TrainRejectsConceptLabelsOutsideTheUnitInterval()
    {
        var (x, y, c) = S.Generate(100, 1);
        var e = await Assert.ThrowsAsync<RpcException>(() => BottleneckServerFixture.TrainAsync(f.Client, BottleneckServerFixture.Config("cbm"),
            ("features", x), ("labels", y), ("concept_labels", c * 2)));
        AssertInvalid(e, "concept_labels");
    }

    [Fact]
    public async Task TrainRejectsUnknownTypesMissingConceptsAndUnknownOptions()
    {
        var (x, y, _) = S.Generate(100, 1);
        AssertInvalid(await Assert.ThrowsAsync<RpcException>(() => BottleneckServerFixture.TrainAsync(f.Client, BottleneckServerFixture.Config("nope"), ("features", x), ("labels", y))), "config.model_type");
        AssertInvalid(await Assert.ThrowsAsync<RpcException>(() => BottleneckServerFixture.TrainAsync(f.Client, BottleneckServerFixture.Config("cbm"), ("features", x), ("labels", y))), "concept_labels");
        var config = BottleneckServerFixture.Config("linear_probe");
        config.Options["lamda"] = "1";
        AssertInvalid(await Assert.ThrowsAsync<RpcException>(() => BottleneckServerFixture.TrainAsync(f.Client, config, ("features", x), ("labels", y))), "config.options.lamda");
    }

    [Fact]
    public async Task PredictStreamsLogitsConceptsAndPredictionsPerBlock()
    {
        using var model = Local(f.Cbm);
        var (x, _, _) = S.Generate(100, 30);
        using var call = f.Client.Predict();
        await call.RequestStream.WriteAsync(new PredictRequest { Config = new PredictConfig { Model = new ArtifactRef { Id = f.Cbm.Artifact.Ref.Id } } });
        foreach (var b in TensorStreams.Split(x, "", null, 40 * S.D * 4))   // 3 blocks of 40, 40, 20 rows
            await call.RequestStream.WriteAsync(new PredictRequest { Block = b });
        await call.RequestStream.CompleteAsync();
        var got = await Collect(call.ResponseStream, r => r.Block);
        using var mode = inference_mode();
        var local = model.Forward(x);
        Assert.True(got["logits"].allclose(local.Logits, 1e-5, 1e-5));
        Assert.True(got["concepts"].allclose(local.Concepts, 1e-5, 1e-5));
        Assert.True(got["predictions"].eq(local.Logits.argmax(1)).all().item<bool>());
    }

    [Fact]
    public async Task PredictRejectsUntrainedIdsMalformedIdsAndWrongWidths()
    {
        async Task<RpcException> Run(string id, Tensor x, bool concepts = false)
        {
            using var call = f.Client.Predict();
            await BottleneckServerFixture.SendAsync(call.RequestStream, async w =>
            {
                await w.WriteAsync(new PredictRequest { Config = new PredictConfig { Model = new ArtifactRef { Id = id }, InputsAreConcepts = concepts } });
                foreach (var b in TensorStreams.Split(x, "", null, TensorBlocks.DefaultMaxBlockBytes)) await w.WriteAsync(new PredictRequest { Block = b });
            });
            return await Assert.ThrowsAsync<RpcException>(async () => { await foreach (var _ in call.ResponseStream.ReadAllAsync()) { } });
        }
        var x = randn(4, S.D);
        AssertInvalid(await Run(new string('a', 64), x), new string('a', 64), StatusCode.NotFound);
        AssertInvalid(await Run("not-an-id", x), "config.model.id");
        AssertInvalid(await Run(f.Cbm.Artifact.Ref.Id, randn(4, S.D + 1)), "blocks");
        AssertInvalid(await Run(f.PcbmH.Artifact.Ref.Id, randn(4, S.K), concepts: true), "config.inputs_are_concepts");
    }

    internal static async Task<Dictionary<string, Tensor>> Intervene(BottleneckService.BottleneckServiceClient client, InterveneConfig config, Tensor x, Tensor? values = null)
    {
        using var call = client.Intervene();
        await BottleneckServerFixture.SendAsync(call.RequestStream, async w =>
        {
            await w.WriteAsync(new InterveneRequest { Config = config });
            foreach (var b in TensorStreams.Split(x, "inputs", null, TensorBlocks.DefaultMaxBlockBytes)) await w.WriteAsync(new InterveneRequest { Block = b });
            if (values is not null) foreach (var b in TensorStreams.Split(values, "values", null, TensorBlocks.DefaultMaxBlockBytes)) await w.WriteAsync(new InterveneRequest { Block = b });
        });
        return await Collect(call.ResponseStream, r => r.Block);
    }

    [Fact]
    public async Task InterveneOverridesNamedConceptsAndMatchesTheLocalHead()
    {
        using var model = Local(f.Cbm);
        var (x, _, c) = S.Generate(50, 31);
        var config = new InterveneConfig { Model = new ArtifactRef { Id = f.Cbm.Artifact.Ref.Id } };
        config.Concepts.Add(["c2", "c5"]);
        var values = c.index_select(1, tensor(new long[] { 2, 5 }));
        var got = await Intervene(f.Client, config, x, values);
        using var mode = inference_mode();
        var (concepts, logits) = model.Intervene(x, [2, 5], values);
        Assert.True(got["logits"].allclose(logits, 1e-5, 1e-5));
        Assert.True(got["concepts"].select(1, 2).eq(values.select(1, 0)).all().item<bool>());
        Assert.True(got["original_logits"].allclose(model.Forward(x).Logits, 1e-5, 1e-5));
        // One value for every row, from the config.
        var constant = new InterveneConfig { Model = new ArtifactRef { Id = f.Cbm.Artifact.Ref.Id } };
        constant.Concepts.Add("c0");
        constant.Values.Add(1f);
        var got2 = await Intervene(f.Client, constant, x);
        Assert.True(got2["concepts"].select(1, 0).eq(1f).all().item<bool>());
    }

    [Fact]
    public async Task InterveneRejectsUnknownConceptsAndNonProbabilities()
    {
        var x = randn(5, S.D);
        var unknown = new InterveneConfig { Model = new ArtifactRef { Id = f.Cbm.Artifact.Ref.Id }, Values = { 1f } };
        unknown.Concepts.Add("wings");
        AssertInvalid(await Assert.ThrowsAsync<RpcException>(() => Intervene(f.Client, unknown, x)), "config.concepts");
        var outside = new InterveneConfig { Model = new ArtifactRef { Id = f.Cbm.Artifact.Ref.Id }, Values = { 1.5f } };
        outside.Concepts.Add("c1");
        var e = await Assert.ThrowsAsync<RpcException>(() => Intervene(f.Client, outside, x));
        AssertInvalid(e, "values");
        Assert.Contains("[0, 1]", e.Status.Detail);
        var missing = new InterveneConfig { Model = new ArtifactRef { Id = f.Cbm.Artifact.Ref.Id } };
        missing.Concepts.Add("c1");
        AssertInvalid(await Assert.ThrowsAsync<RpcException>(() => Intervene(f.Client, missing, x)), "config.values");
        var untrained = new InterveneConfig { Model = new ArtifactRef { Id = new string('e', 64) }, Values = { 1f } };
        untrained.Concepts.Add("c1");
        AssertInvalid(await Assert.ThrowsAsync<RpcException>(() => Intervene(f.Client, untrained, x)), new string('e', 64), StatusCode.NotFound);
    }

    internal static async Task<Dictionary<string, Tensor>> Contributions(BottleneckService.BottleneckServiceClient client, ContributionsConfig config, Tensor x, Tensor? classes = null)
    {
        using var call = client.Contributions();
        await BottleneckServerFixture.SendAsync(call.RequestStream, async w =>
        {
            await w.WriteAsync(new ContributionsRequest { Config = config });
            foreach (var b in TensorStreams.Split(x, "inputs", null, TensorBlocks.DefaultMaxBlockBytes)) await w.WriteAsync(new ContributionsRequest { Block = b });
            if (classes is not null) foreach (var b in TensorStreams.Split(classes, "classes", null, TensorBlocks.DefaultMaxBlockBytes)) await w.WriteAsync(new ContributionsRequest { Block = b });
        });
        return await Collect(call.ResponseStream, r => r.Block);
    }

    [Fact]
    public async Task ContributionsSumWithBiasAndResidualToTheLogit()
    {
        var (x, _, _) = S.Generate(40, 32);
        var got = await Contributions(f.Client, new ContributionsConfig { Model = new ArtifactRef { Id = f.PcbmH.Artifact.Ref.Id } }, x);
        var logit = got["logits"].gather(1, got["classes"].unsqueeze(1)).squeeze(1);
        Assert.True((got["contributions"].sum(1) + got["bias"] + got["residual"]).allclose(logit, 1e-4, 1e-4));
        Assert.True(got["residual"].abs().sum().item<float>() > 0);
        var all = await Contributions(f.Client, new ContributionsConfig { Model = new ArtifactRef { Id = f.PcbmH.Artifact.Ref.Id }, AllClasses = true }, x, zeros(40, dtype: ScalarType.Int64));
        Assert.Equal(new long[] { 40, S.C, S.K }, all["contributions"].shape);
    }

    [Fact]
    public async Task ContributionsRejectClassesOutOfRangeAndMissingInputs()
    {
        var x = randn(3, S.D);
        AssertInvalid(await Assert.ThrowsAsync<RpcException>(() => Contributions(f.Client, new ContributionsConfig { Model = new ArtifactRef { Id = f.Cbm.Artifact.Ref.Id } }, x,
            tensor(new long[] { 0, 1, S.C }))), "classes");
        AssertInvalid(await Assert.ThrowsAsync<RpcException>(() => Contributions(f.Client, new ContributionsConfig { Model = new ArtifactRef { Id = new string('f', 64) } }, x)),
            new string('f', 64), StatusCode.NotFound);
        AssertInvalid(await Assert.ThrowsAsync<RpcException>(() => Contributions(f.Client, new ContributionsConfig { Model = new ArtifactRef { Id = f.Cbm.Artifact.Ref.Id } }, randn(3, 2))), "inputs");
    }

    [Fact]
    public async Task EditStoresANewModelAndGetModelReportsTheEdit()
    {
        var request = new EditRequest { Model = new ArtifactRef { Id = f.Cbm.Artifact.Ref.Id } };
        request.Edits.Add(new ConceptEdit { Concept = "c3", Factor = 0 });
        request.Edits.Add(new ConceptEdit { Concept = "c4", Factor = 0.5 });
        var edited = await f.Client.EditAsync(request);
        Assert.NotEqual(f.Cbm.Artifact.Ref.Id, edited.Artifact.Ref.Id);
        var info = await f.Client.GetModelAsync(new GetBottleneckModelRequest { Model = new ArtifactRef { Id = edited.Artifact.Ref.Id } });
        Assert.Equal(0.0, info.Edits["c3"]);
        Assert.Equal(0.5, info.Edits["c4"]);
        Assert.Equal("cbm", info.ModelType);
        Assert.Equal(S.ConceptNames, info.ConceptNames);
        using var before = Local(f.Cbm);
        using var after = ConceptModel.Load(f.Server.Services.GetRequiredService<ArtifactStore>(), edited.Artifact.Ref.Id, null, "model");
        Assert.True(after.HeadWeight.select(1, 3).eq(0).all().item<bool>());
        Assert.True(after.HeadWeight.select(1, 4).allclose(before.HeadWeight.select(1, 4) * 0.5f));
    }

    [Fact]
    public async Task EditRejectsUnknownConceptsBadFactorsAndUntrainedIds()
    {
        var unknown = new EditRequest { Model = new ArtifactRef { Id = f.Cbm.Artifact.Ref.Id } };
        unknown.Edits.Add(new ConceptEdit { Concept = "wings", Factor = 0 });
        AssertInvalid(await Assert.ThrowsAsync<RpcException>(async () => await f.Client.EditAsync(unknown)), "edits[0].concept");
        var negative = new EditRequest { Model = new ArtifactRef { Id = f.Cbm.Artifact.Ref.Id } };
        negative.Edits.Add(new ConceptEdit { Concept = "c1", Factor = -1 });
        AssertInvalid(await Assert.ThrowsAsync<RpcException>(async () => await f.Client.EditAsync(negative)), "edits[0].factor");
        AssertInvalid(await Assert.ThrowsAsync<RpcException>(async () => await f.Client.EditAsync(new EditRequest { Model = new ArtifactRef { Id = f.Cbm.Artifact.Ref.Id } })), "edits");
        var absent = new EditRequest { Model = new ArtifactRef { Id = new string('b', 64) } };
        absent.Edits.Add(new ConceptEdit { Concept = "c1", Factor = 0 });
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(async () => await f.Client.EditAsync(absent))).StatusCode);
    }

    [Fact]
    public async Task GetModelDescribesATrainedModelAndRejectsOthers()
    {
        var info = await f.Client.GetModelAsync(new GetBottleneckModelRequest { Model = new ArtifactRef { Id = f.PcbmH.Artifact.Ref.Id } });
        Assert.True(info.HasResidual);
        Assert.Equal("signed_distance", info.ConceptActivation);
        Assert.Equal(S.D, info.InputDim);
        Assert.Equal(S.ClassNames, info.ClassNames);
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(async () => await f.Client.GetModelAsync(new GetBottleneckModelRequest { Model = new ArtifactRef { Id = new string('c', 64) } }))).StatusCode);
        AssertInvalid(await Assert.ThrowsAsync<RpcException>(async () => await f.Client.GetModelAsync(new GetBottleneckModelRequest { Model = new ArtifactRef { Id = "" } })), "model.id");
        // An artifact of another kind is not a bottleneck model.
        var store = f.Server.Services.GetRequiredService<ArtifactStore>();
        var other = await store.PutAsync("report", new Dictionary<string, Tensor> { ["x"] = zeros(2) });
        AssertInvalid(await Assert.ThrowsAsync<RpcException>(async () => await f.Client.GetModelAsync(new GetBottleneckModelRequest { Model = new ArtifactRef { Id = other.Ref.Id } })), "model.id");
    }

    [Fact]
    public async Task ListMethodsNamesEveryModelTypeWithItsPaperOptionsAndRequiredBlock()
    {
        var r = await f.Client.ListMethodsAsync(new ListMethodsRequest());
        var family = Assert.Single(r.Families);
        Assert.Equal("bottleneck_model", family.Name);
        Assert.Equal("config.model_type", family.SelectedBy);
        Assert.Equal(["linear_probe", "cbm", "pcbm", "pcbm_h", "sparse_probe", "sparse_cbm", "concept_matrix_search", "grassmann", "ecbm"], family.Methods.Select(t => t.Name));
        Assert.Equal("concept_labels", family.Methods.Single(t => t.Name == "cbm").Traits["requires"]);
        Assert.Equal("concept_bank", family.Methods.Single(t => t.Name == "concept_matrix_search").Traits["requires"]);
        Assert.Equal("concept_labels", family.Methods.Single(t => t.Name == "ecbm").Traits["requires"]);
        Assert.All(family.Methods, t => { Assert.NotEmpty(t.Paper); Assert.NotEmpty(t.Options); });
    }

    [Fact]
    public async Task ExportSendsTheSpecThenTheSafetensorsFile()
    {
        using var call = f.Client.Export(new ExportRequest { Model = new ArtifactRef { Id = f.PcbmH.Artifact.Ref.Id }, MaxBlockBytes = 1000 });
        string? spec = null;
        var bytes = new MemoryStream();
        await foreach (var m in call.ResponseStream.ReadAllAsync())
        {
            if (m.PartCase == ExportResponse.PartOneofCase.SpecJson) spec = m.SpecJson;
            else { Assert.Equal(bytes.Length, m.Offset); m.SafetensorsChunk.WriteTo(bytes); }
        }
        Assert.NotNull(spec);
        var parsed = ConceptModelSpec.FromJson(spec);
        Assert.Equal("pcbm_h", parsed.ModelType);
        bytes.Position = 0;
        var (entries, _) = Safetensors.ReadHeader(bytes);
        Assert.Contains(entries, e => e.Name == "residual_weight" && e.Shape.SequenceEqual(new long[] { S.C, S.D }));
        var file = Path.Combine(f.Server.DataDir, "artifacts", f.PcbmH.Artifact.Ref.Id, "tensors.safetensors");
        Assert.Equal(File.ReadAllBytes(file), bytes.ToArray());
    }

    [Fact]
    public async Task ExportRejectsUntrainedIdsOtherArtifactsAndNegativeChunks()
    {
        async Task<RpcException> Run(ExportRequest request) => await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var call = f.Client.Export(request);
            await foreach (var _ in call.ResponseStream.ReadAllAsync()) { }
        });
        AssertInvalid(await Run(new ExportRequest { Model = new ArtifactRef { Id = new string('d', 64) } }), new string('d', 64), StatusCode.NotFound);
        AssertInvalid(await Run(new ExportRequest { Model = new ArtifactRef { Id = f.Cbm.Artifact.Ref.Id }, MaxBlockBytes = -1 }), "max_block_bytes");
        var store = f.Server.Services.GetRequiredService<ArtifactStore>();
        var other = await store.PutAsync("report", new Dictionary<string, Tensor> { ["y"] = zeros(3) });
        AssertInvalid(await Run(new ExportRequest { Model = new ArtifactRef { Id = other.Ref.Id } }), "model.id");
    }
}
