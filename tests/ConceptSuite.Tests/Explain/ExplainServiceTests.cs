using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Tests.Infrastructure;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using TorchSharp;
using static ConceptSuite.Tests.Explain.ExplainFixtures;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Tests.Explain;

/// <summary>Every RPC of the explain stage through the real in-process server, good and bad input.</summary>
public sealed class ExplainServiceTests : IAsyncLifetime
{
    SuiteTestServer _server = null!;
    ExplainService.ExplainServiceClient _client = null!;

    public async Task InitializeAsync()
    {
        _server = await SuiteTestServer.StartAsync("explain");
        _client = new ExplainService.ExplainServiceClient(_server.Channel);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    static async Task<Tensor> CollectAsync(IAsyncStreamReader<TensorBlock> reader) =>
        (await TensorStreams.AssembleAsync(TensorStreams.ReadAll(reader))).Tensor;

    static void AssertInvalid(RpcException e, string field)
    {
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.StartsWith(field + ":", e.Status.Detail);
    }

    Task<CompareRepresentationsResponse> CompareAsync(CompareRepresentationsConfig cfg, params (string, Tensor)[] tensors) => Run(async () =>
    {
        using var call = _client.CompareRepresentations();
        await SendAsync(call.RequestStream, new CompareRepresentationsRequest { Config = cfg }, b => new CompareRepresentationsRequest { Block = b }, tensors);
        return await call.ResponseAsync;
    });

    static Task<T> Run<T>(Func<Task<T>> f) => f();

    [Fact]
    public async Task CompareRepresentationsReturnsIndicesMatchingSparsePredictionAndGroups()
    {
        var a = Randn(1, 120, 8).to_type(ScalarType.Float32);
        var perm = new long[] { 5, 2, 7, 0, 1, 6, 3, 4 };
        var b = a.index_select(1, torch.tensor(perm));
        var cfg = new CompareRepresentationsConfig { MatchUnits = true, SparseAlpha = 0.05, SpectralGroups = 2 };
        cfg.Similarities.AddRange(["linear_cka", "rbf_cka", "debiased_cka", "minibatch_cka", "svcca", "pwcca"]);
        var r = await CompareAsync(cfg, ("a", a), ("b", b));
        foreach (var v in r.Similarities.Values) Assert.Equal(1.0, v, 5);
        Assert.Equal(6, r.Similarities.Count);
        for (int j = 0; j < perm.Length; j++) Assert.Equal(j, r.Matching.Partner[(int)perm[j]]);
        Assert.Equal(new long[] { 8, 8 }, r.Matching.Correlation.Shape);
        Assert.All(r.SparsePrediction.Nonzero, n => Assert.Equal(1, n));
        Assert.Equal(8, r.SpectralGroups.LabelsA.Count);
        Assert.Equal(8, r.SpectralGroups.LabelsB.Count);
    }

    [Fact]
    public async Task CompareRepresentationsRejectsMismatchedRowsTooFewSamplesAndUnknownIndices()
    {
        var cfg = new CompareRepresentationsConfig();
        cfg.Similarities.Add("linear_cka");
        AssertInvalid(await Assert.ThrowsAsync<RpcException>(() => CompareAsync(cfg, ("a", Randn(1, 10, 3)), ("b", Randn(2, 9, 3)))), "b");
        var deb = new CompareRepresentationsConfig();
        deb.Similarities.Add("debiased_cka");
        AssertInvalid(await Assert.ThrowsAsync<RpcException>(() => CompareAsync(deb, ("a", Randn(1, 3, 3)), ("b", Randn(2, 3, 3)))), "a");
        var unknown = new CompareRepresentationsConfig();
        unknown.Similarities.Add("procrustes");
        AssertInvalid(await Assert.ThrowsAsync<RpcException>(() => CompareAsync(unknown, ("a", Randn(1, 10, 3)), ("b", Randn(2, 10, 3)))), "config.similarities");
        AssertInvalid(await Assert.ThrowsAsync<RpcException>(() => CompareAsync(cfg, ("a", Randn(1, 10, 3)))), "b");
    }

    [Fact]
    public async Task CompareRepresentationsReadsAnArtifactAndAnswersNotFoundForAnUnknownOne()
    {
        var store = _server.Services.GetRequiredService<ArtifactStore>();
        var x = Randn(3, 50, 6);
        var info = await store.PutAsync("activations", new Dictionary<string, Tensor> { ["a"] = x, ["b"] = 2 * x });
        var cfg = new CompareRepresentationsConfig { Artifact = new() { Id = info.Ref.Id } };
        cfg.Similarities.Add("linear_cka");
        Assert.Equal(1.0, (await CompareAsync(cfg)).Similarities["linear_cka"], 9);
        // Stream tensors take precedence over the artifact's.
        Assert.True((await CompareAsync(cfg, ("b", Randn(4, 50, 6)))).Similarities["linear_cka"] < 0.5);
        var missing = new CompareRepresentationsConfig { Artifact = new() { Id = new string('a', 64) } };
        missing.Similarities.Add("linear_cka");
        var e = await Assert.ThrowsAsync<RpcException>(() => CompareAsync(missing));
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
    }

    static (Tensor U, Tensor W, long[] Targets) LinearCase()
    {
        var w = Randn(5, 3, 6);
        var u = Randn(6, 12, 6).abs();
        long[] targets = [.. Enumerable.Range(0, 12).Select(i => (long)(i % 3))];
        return (u, w, targets);
    }

    [Fact]
    public async Task ConceptImportanceStreamsTheImportances()
    {
        var (u, w, targets) = LinearCase();
        using var call = _client.ConceptImportance();
        await SendAsync(call.RequestStream, new ConceptImportanceRequest { Config = new() { Importance = new() { Method = "occlusion" } } },
            b => new ConceptImportanceRequest { Block = b }, ("coefficients", u), ("targets", torch.tensor(targets)), ("head_weight", w));
        var phi = await CollectAsync(call.ResponseStream);
        var expected = u * w.index_select(0, torch.tensor(targets));
        Assert.True((phi.to_type(ScalarType.Float64) - expected).abs().max().item<double>() < 1e-5);
    }

    [Fact]
    public async Task ConceptImportanceRejectsTargetsOutsideTheHeadsClasses()
    {
        var (u, w, _) = LinearCase();
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var call = _client.ConceptImportance();
            await SendAsync(call.RequestStream, new ConceptImportanceRequest { Config = new() { Importance = new() { Method = "sobol" } } },
                b => new ConceptImportanceRequest { Block = b }, ("coefficients", u), ("targets", torch.tensor(Enumerable.Repeat(7L, 12).ToArray())), ("head_weight", w));
            await CollectAsync(call.ResponseStream);
        });
        AssertInvalid(e, "targets");
    }

    [Fact]
    public async Task ConceptImportanceTakesGradientsThroughAStoredGrassmannHead()
    {
        using var model = ConceptSuite.Tests.Bottleneck.GrassmannHeadTests.Tiny(r: 2);
        var info = await model.SaveAsync(_server.Services.GetRequiredService<ArtifactStore>());
        var x = Randn(82, 5, 4).to_type(ScalarType.Float32);
        var targets = torch.tensor(new long[] { 1, 0, 1, 1, 0 });
        using var call = _client.ConceptImportance();
        await SendAsync(call.RequestStream, new ConceptImportanceRequest { Config = new() { Importance = new() { Method = "gradient_input" }, Model = info.Ref } },
            b => new ConceptImportanceRequest { Block = b }, ("inputs", x), ("targets", targets));
        var phi = await CollectAsync(call.ResponseStream);
        // c_k ∂h_j/∂c_k = c_k s (S_j p̂_j)_k / σ_k for h_j = s‖S_jᵀz‖ + b_j, z = (c − μ)/σ, p_j = S_jᵀz.
        var c = model.Concepts(x).to_type(ScalarType.Float64);
        var sigma = torch.tensor(new double[] { 2, 0.5, 1 });
        var z = (c - torch.tensor(new double[] { 0.5, -0.2, 0.1 })) / sigma;
        var s = model.HeadSubspaces.to_type(ScalarType.Float64).index_select(0, targets);
        var p = torch.einsum("nk,nkr->nr", z, s);
        var expected = c * model.HeadScale * torch.einsum("nkr,nr->nk", s, p / p.norm(1, keepdim: true)) / sigma;
        Assert.True((phi.to_type(ScalarType.Float64) - expected).abs().max().item<double>() < 1e-4);
    }

    [Fact]
    public async Task ConceptImportanceRunsAStoredBottleneckModelOnItsInputs()
    {
        using var model = BottleneckHeadTests.TinyModel();
        var info = await model.SaveAsync(_server.Services.GetRequiredService<ArtifactStore>());
        var x = Randn(80, 5, 4).to_type(ScalarType.Float32);
        var targets = torch.tensor(new long[] { 1, 0, 1, 1, 0 });
        using var call = _client.ConceptImportance();
        await SendAsync(call.RequestStream, new ConceptImportanceRequest { Config = new() { Importance = new() { Method = "occlusion" }, Model = info.Ref } },
            b => new ConceptImportanceRequest { Block = b }, ("inputs", x), ("targets", targets));
        var phi = await CollectAsync(call.ResponseStream);
        var c = model.Concepts(x).to_type(ScalarType.Float64);
        var expected = model.HeadWeight.to_type(ScalarType.Float64).index_select(0, targets) * c / torch.tensor(new double[] { 2, 0.5, 1 });
        Assert.True((phi.to_type(ScalarType.Float64) - expected).abs().max().item<double>() < 1e-4);
        var missing = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var c2 = _client.ConceptImportance();
            await SendAsync(c2.RequestStream, new ConceptImportanceRequest { Config = new() { Model = new() { Id = new string('b', 64) } } },
                b => new ConceptImportanceRequest { Block = b }, ("inputs", x), ("targets", targets));
            await CollectAsync(c2.ResponseStream);
        });
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
        var wrongWidth = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var c3 = _client.ConceptImportance();
            await SendAsync(c3.RequestStream, new ConceptImportanceRequest { Config = new() { Model = info.Ref } },
                b => new ConceptImportanceRequest { Block = b }, ("inputs", Randn(81, 5, 6)), ("targets", targets));
            await CollectAsync(c3.ResponseStream);
        });
        AssertInvalid(wrongWidth, "inputs");
    }

    [Fact]
    public async Task ClassImportanceReportsPrevalenceReliabilityAndClusters()
    {
        var (u, w, targets) = LinearCase();
        var cfg = new ClassImportanceConfig { Importance = new() { Method = "gradient_input" }, ClassIndex = 1, Clusters = 2, Exemplars = 1, DominantConcepts = 2 };
        using var call = _client.ClassImportance();
        await SendAsync(call.RequestStream, new ClassImportanceRequest { Config = cfg }, b => new ClassImportanceRequest { Block = b },
            ("coefficients", u), ("targets", torch.tensor(targets)), ("labels", torch.tensor(targets)), ("head_weight", w));
        var r = await call.ResponseAsync;
        Assert.Equal(4, r.Samples);
        Assert.Equal(6, r.Importance.Count);
        Assert.All(r.Prevalence, p => Assert.Equal(1.0, p));          // |u| > 0 everywhere
        Assert.All(r.Reliability, p => Assert.Equal(1.0 / 3, p, 12));  // 4 of the 12 samples
        Assert.Equal(2, r.Clusters.Count);
        Assert.Equal(4, r.Clusters.Sum(c => c.Members.Count));
        var bad = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var c2 = _client.ClassImportance();
            await SendAsync(c2.RequestStream, new ClassImportanceRequest { Config = new() { Importance = new() { Method = "shap" } } }, b => new ClassImportanceRequest { Block = b },
                ("coefficients", u), ("targets", torch.tensor(targets)), ("labels", torch.tensor(targets)), ("head_weight", w));
            await c2.ResponseAsync;
        });
        AssertInvalid(bad, "config.importance.method");
    }

    [Fact]
    public async Task AttributionMapsStreamUpsampledMapsAndRejectAMismatchedDictionary()
    {
        var act = Randn(7, 5, 4, 3, 3).abs();
        var dict = Randn(8, 2, 4).abs();
        var cfg = new AttributionMapsConfig { ImageHeight = 12, ImageWidth = 12 };
        cfg.Concepts.Add(1);
        using var call = _client.AttributionMaps();
        await SendAsync(call.RequestStream, new AttributionMapsRequest { Config = cfg }, b => new AttributionMapsRequest { Block = b }, ("activations", act), ("dictionary", dict));
        var maps = await CollectAsync(call.ResponseStream);
        Assert.Equal(new long[] { 5, 1, 12, 12 }, maps.shape);
        Assert.Equal(1.0, maps.amax([1, 2, 3]).min().item<float>(), 5);
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var c2 = _client.AttributionMaps();
            await SendAsync(c2.RequestStream, new AttributionMapsRequest { Config = cfg }, b => new AttributionMapsRequest { Block = b }, ("activations", act), ("dictionary", Randn(9, 2, 5)));
            await CollectAsync(c2.ResponseStream);
        });
        AssertInvalid(e, "dictionary");
    }

    [Fact]
    public async Task FidelityOfAPerfectExplainerAndCompleteness()
    {
        var w = torch.zeros(2, 50, ScalarType.Float64);
        w[0, 4] = 3.0; w[1, 9] = 2.0;
        var u = Randn(9, 6, 50).abs() + 0.1;
        var targets = torch.tensor(new long[] { 0, 1, 0, 1, 0, 1 });
        var labels = torch.tensor(new long[] { 0, 1, 0, 1, 0, 0 });
        using var call = _client.Fidelity();
        await SendAsync(call.RequestStream, new FidelityRequest { Config = new() { Importance = new() { Method = "gradient_input" } } }, b => new FidelityRequest { Block = b },
            ("coefficients", u), ("targets", targets), ("head_weight", w), ("labels", labels), ("model_predictions", labels), ("concepts_a", w), ("concepts_b", w.flip(0)));
        var r = await call.ResponseAsync;
        Assert.Equal(0.01, r.DeletionArea, 9);   // curve [1, 0, …, 0] over 50 steps: 0.5/50
        Assert.Equal(0.99, r.InsertionArea, 9);
        Assert.Equal(1.0, r.MuFidelity, 9);
        Assert.Equal(51, r.DeletionCurve.Count);
        Assert.Equal(50.0, r.L0);
        Assert.NotNull(r.Completeness);
        Assert.NotNull(r.Stability);
        Assert.Equal(1.0, r.Stability!.Value, 9);
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var c2 = _client.Fidelity();
            await SendAsync(c2.RequestStream, new FidelityRequest { Config = new() }, b => new FidelityRequest { Block = b },
                ("coefficients", u), ("targets", targets), ("head_weight", w), ("importance", Randn(1, 6, 49)));
            await c2.ResponseAsync;
        });
        AssertInvalid(e, "importance");
    }

    [Fact]
    public async Task ConceptTrustScoresExistenceAndLocationAndRejectsWrongMasks()
    {
        var phi = torch.tensor(new double[] { 3, 0, 1, 2, 5, 0 }, [2, 3], ScalarType.Float64);
        var present = torch.tensor(new double[] { 1, 0, 0, 1, 1, 0 }, [2, 3], ScalarType.Float64);
        var maps = torch.zeros(2, 3, 4, 4, ScalarType.Float64);
        var masks = torch.zeros(2, 3, 4, 4, ScalarType.Byte);
        maps[0, 0, 0, 0] = 1; masks[0, 0, 0, 0] = 1;
        maps[1, 1, 2, 2] = 1; maps[1, 1, 3, 3] = 3; masks[1, 1, 2, 2] = 1;
        maps[1, 0, 1, 1] = 1;
        var labels = torch.tensor(new long[] { 0, 1 });
        using var call = _client.ConceptTrust();
        await SendAsync(call.RequestStream, new ConceptTrustRequest { Config = new() { TopK = 2 } }, b => new ConceptTrustRequest { Block = b },
            ("importance", phi), ("concept_labels", present), ("labels", labels), ("maps", maps), ("concept_masks", masks));
        var r = await call.ResponseAsync;
        Assert.Equal(0.75, r.Existence, 12);
        Assert.Equal((1 + 0.25) / 3, r.Location!.Value, 12);
        Assert.Equal(new long[] { 2, 3 }, r.GlobalImportance.Shape);
        // All four relied-on pairs (the absent concept 2 of sample 0 scores 0): 1.25 / 4. Chance-
        // corrected, each one-pixel mask covers 1/16: (1/4 − 1/16)/(15/16) = 0.2 for sample 1's
        // concept 1, so (1 + 0 + 0.2 + 0) / 4.
        foreach (var (allRelied, corrected, expected) in new[] { (true, false, 1.25 / 4), (true, true, 1.2 / 4), (false, true, 1.2 / 3) })
        {
            using var c1 = _client.ConceptTrust();
            await SendAsync(c1.RequestStream, new ConceptTrustRequest { Config = new() { TopK = 2, LocationAllRelied = allRelied, LocationChanceCorrected = corrected } }, b => new ConceptTrustRequest { Block = b },
                ("importance", phi), ("concept_labels", present), ("labels", labels), ("maps", maps), ("concept_masks", masks));
            Assert.Equal(expected, (await c1.ResponseAsync).Location!.Value, 12);
        }
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var c2 = _client.ConceptTrust();
            await SendAsync(c2.RequestStream, new ConceptTrustRequest { Config = new() { TopK = 2 } }, b => new ConceptTrustRequest { Block = b },
                ("importance", phi), ("concept_labels", present), ("labels", labels), ("maps", maps), ("concept_masks", torch.zeros(2, 2, 4, 4, ScalarType.Byte)));
            await c2.ResponseAsync;
        });
        AssertInvalid(e, "concept_masks");
    }

    [Fact]
    public async Task ConceptTrustAtClassLevelComputesMapsFromActivationsAndADictionary()
    {
        // Concept 0 lives in the top-left patch of a 2×2 grid, concept 1 in the bottom-right one;
        // the linear head relies on concept 0 for class 0 and concept 1 for class 1.
        var act = torch.zeros(4, 2, 2, 2, ScalarType.Float64);
        act[TensorIndex.Colon, 0, 0, 0] = 1.0;
        act[TensorIndex.Colon, 1, 1, 1] = 1.0;
        var dict = torch.eye(2, dtype: ScalarType.Float64);
        var u = torch.ones(4, 2, ScalarType.Float64);
        var w = torch.tensor(new double[] { 2, 0, 0, 3 }, [2, 2], ScalarType.Float64);
        var labels = torch.tensor(new long[] { 0, 1, 0, 1 });
        // Concept 0 is present in samples 0, 1; concept 1 in samples 1, 3.
        var present = torch.tensor(new double[] { 1, 0, 1, 1, 0, 0, 0, 1 }, [4, 2], ScalarType.Float64);
        var masks = torch.zeros(4, 2, 8, 8, ScalarType.Byte);
        masks[TensorIndex.Colon, 0, TensorIndex.Slice(0, 4), TensorIndex.Slice(0, 4)] = 1;
        masks[TensorIndex.Colon, 1, TensorIndex.Slice(4, 8), TensorIndex.Slice(4, 8)] = 1;
        using var call = _client.ConceptTrust();
        await SendAsync(call.RequestStream, new ConceptTrustRequest { Config = new() { TopK = 1, ClassLevel = true, Importance = new() { Method = "gradient_input" } } },
            b => new ConceptTrustRequest { Block = b },
            ("coefficients", u), ("targets", labels), ("head_weight", w), ("labels", labels), ("concept_labels", present),
            ("activations", act), ("dictionary", dict), ("concept_masks", masks));
        var r = await call.ResponseAsync;
        // Class concepts: 0 for class 0 (present in sample 0, absent in 2), 1 for class 1 (present in 1 and 3).
        Assert.Equal(0.75, r.Existence, 12);
        // One patch of a 2×2 grid upsampled ×4 (half-pixel bilinear): per axis the weights are
        // 1, 1, 0.875, 0.625 | 0.375, 0.125, 0, 0, so (3.5/4)² of the map lies in its quadrant.
        Assert.Equal(0.765625, r.Location!.Value, 9);
    }

    [Fact]
    public async Task ConceptTrustMatchesDiscoveredConceptsToGroundTruthValuesAndReportsEachConcept()
    {
        // Two discovered concepts, three ground-truth values: A on samples 0 and 2 (mask: the
        // top-left quadrant), B on sample 0 only (top-left), C on samples 1 and 3 (bottom-right).
        // Concept 0 fires on samples 0 and 2 (AUC 1 for A, 5/6 for B), concept 1 on 1 and 3 (AUC 1
        // for C); the head relies on concept 0 for class 0 and concept 1 for class 1. Each relied-on
        // concept is present where it is relied on, and its map, one patch of a 2×2 grid upsampled
        // ×4, puts (3.5/4)² of its mass in its quadrant.
        var act = torch.zeros(4, 2, 2, 2, ScalarType.Float64);
        act[TensorIndex.Colon, 0, 0, 0] = 1.0;
        act[TensorIndex.Colon, 1, 1, 1] = 1.0;
        var u = torch.tensor(new double[] { 1, 0, 0, 1, 1, 0, 0, 1 }, [4, 2], ScalarType.Float64);
        var w = torch.tensor(new double[] { 2, 0, 0, 3 }, [2, 2], ScalarType.Float64);
        var labels = torch.tensor(new long[] { 0, 1, 0, 1 });
        var values = torch.tensor(new double[] { 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1 }, [4, 3], ScalarType.Float64);
        var masks = torch.zeros(4, 3, 8, 8, ScalarType.Byte);
        masks[TensorIndex.Colon, 0, TensorIndex.Slice(0, 4), TensorIndex.Slice(0, 4)] = 1;
        masks[TensorIndex.Colon, 1, TensorIndex.Slice(0, 4), TensorIndex.Slice(0, 4)] = 1;
        masks[TensorIndex.Colon, 2, TensorIndex.Slice(4, 8), TensorIndex.Slice(4, 8)] = 1;
        var config = new ConceptTrustConfig { TopK = 1, ClassLevel = true, MatchGroundTruth = true, Importance = new() { Method = "gradient_input" } };
        using var call = _client.ConceptTrust();
        await SendAsync(call.RequestStream, new ConceptTrustRequest { Config = config }, b => new ConceptTrustRequest { Block = b },
            ("coefficients", u), ("targets", labels), ("head_weight", w), ("labels", labels), ("concept_labels", values),
            ("activations", act), ("dictionary", torch.eye(2, dtype: ScalarType.Float64)), ("concept_masks", masks));
        var r = await call.ResponseAsync;
        Assert.Equal([0L, 2], r.MatchedValue);
        Assert.Equal([1.0, 1.0], r.MatchedAuc);
        Assert.Equal([2L, 2], r.ConceptRelied);
        Assert.Equal([1.0, 1.0], r.ConceptExistence);
        Assert.Equal([2L, 2], r.ConceptLocated);
        Assert.All(r.ConceptLocation, l => Assert.Equal(0.765625, l, 9));
        Assert.Equal(1.0, r.Existence, 12);
        Assert.Equal(0.765625, r.Location!.Value, 9);

        // 50 000 concepts matched to one 64×64 mask: the matched masks, maps and their product would
        // take 6.5 GB, over any per-call budget; refused before they are built, and the stage keeps serving.
        const int many = 50_000;
        var huge = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var c2 = _client.ConceptTrust();
            await SendAsync(c2.RequestStream, new ConceptTrustRequest { Config = config }, b => new ConceptTrustRequest { Block = b },
                ("coefficients", torch.ones(1, many, ScalarType.Float64)), ("targets", torch.tensor(new long[] { 0 })), ("head_weight", torch.ones(2, many, ScalarType.Float64)),
                ("labels", torch.tensor(new long[] { 0 })), ("concept_labels", torch.ones(1, 1, ScalarType.Float64)), ("concept_masks", torch.ones(1, 1, 64, 64, ScalarType.Byte)));
            await c2.ResponseAsync;
        });
        Assert.Equal(StatusCode.ResourceExhausted, huge.StatusCode);
        Assert.Contains("concept_masks", huge.Status.Detail);
        // Ground-truth values for other samples than the coefficients': INVALID_ARGUMENT naming them.
        var rows = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var c3 = _client.ConceptTrust();
            await SendAsync(c3.RequestStream, new ConceptTrustRequest { Config = config }, b => new ConceptTrustRequest { Block = b },
                ("coefficients", u), ("targets", labels), ("head_weight", w), ("labels", labels), ("concept_labels", values.narrow(0, 0, 3)));
            await c3.ResponseAsync;
        });
        AssertInvalid(rows, "concept_labels");
        using var again = _client.ConceptTrust();
        await SendAsync(again.RequestStream, new ConceptTrustRequest { Config = config }, b => new ConceptTrustRequest { Block = b },
            ("coefficients", u), ("targets", labels), ("head_weight", w), ("labels", labels), ("concept_labels", values));
        Assert.Equal(1.0, (await again.ResponseAsync).Existence, 12);
    }

    [Fact]
    public async Task IntrinsicDimensionJobFindsTheConstraintCountAndStoresAReport()
    {
        var cfg = new IntrinsicDimensionConfig { Problem = "linear_constraints", Parameters = 200, Constraints = 4, Seed = 1 };
        cfg.Dims.AddRange([2, 3, 4, 6]);
        using var call = _client.IntrinsicDimension();
        await SendAsync(call.RequestStream, new IntrinsicDimensionRequest { Config = cfg }, b => new IntrinsicDimensionRequest { Block = b });
        JobResult? result = null;
        int progress = 0;
        await foreach (var ev in call.ResponseStream.ReadAllAsync())
        {
            if (ev.EventCase == JobEvent.EventOneofCase.Progress) progress++;
            if (ev.EventCase == JobEvent.EventOneofCase.Result) result = ev.Result;
        }
        Assert.NotNull(result);
        Assert.Equal(4.0, result!.Metrics["d_int"]);
        Assert.Equal(1.0, result.Metrics["full_performance"]);
        Assert.Equal(5, progress);
        Assert.Equal("report", result.Artifact.Ref.Kind);
        var bad = new IntrinsicDimensionConfig { Problem = "sudoku" };
        bad.Dims.Add(3);
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var c2 = _client.IntrinsicDimension();
            await SendAsync(c2.RequestStream, new IntrinsicDimensionRequest { Config = bad }, b => new IntrinsicDimensionRequest { Block = b });
            await foreach (var _ in c2.ResponseStream.ReadAllAsync()) { }
        });
        AssertInvalid(e, "config.problem");
    }

    /// <summary>
    /// IntrinsicDimension sizes its classifier head from the largest label and its projection
    /// from the parameter count: a label of 2^40, a projection past the per-call budget and counts
    /// past their maxima are refused naming the field, before any tensor of that size exists.
    /// </summary>
    [Fact]
    public async Task IntrinsicDimensionRefusesHugeLabelsProjectionsAndCountsNamingTheField()
    {
        async Task<RpcException> Fails(IntrinsicDimensionConfig cfg, params (string, Tensor)[] tensors) =>
            await Assert.ThrowsAsync<RpcException>(async () =>
            {
                using var call = _client.IntrinsicDimension();
                await SendAsync(call.RequestStream, new IntrinsicDimensionRequest { Config = cfg }, b => new IntrinsicDimensionRequest { Block = b }, tensors);
                await foreach (var _ in call.ResponseStream.ReadAllAsync()) { }
            });
        var features = torch.randn(8, 3);
        var labels = torch.tensor(new long[] { 0, 1, 0, 1, 0, 1, 0, 1L << 40 });
        AssertInvalid(await Fails(new IntrinsicDimensionConfig { Problem = "classifier", Dims = { 2 } }, ("features", features), ("labels", labels)), "labels");
        var huge = await Fails(new IntrinsicDimensionConfig { Problem = "linear_constraints", Parameters = int.MaxValue, Constraints = int.MaxValue, Dims = { 2 } });
        Assert.Equal(StatusCode.ResourceExhausted, huge.StatusCode);
        Assert.StartsWith("config.parameters:", huge.Status.Detail);
        var projection = await Fails(new IntrinsicDimensionConfig { Problem = "linear_constraints", Parameters = 1 << 20, Constraints = 2, Dims = { 1L << 40 } });
        Assert.Equal(StatusCode.ResourceExhausted, projection.StatusCode);
        Assert.StartsWith("config.dims:", projection.Status.Detail);
        AssertInvalid(await Fails(new IntrinsicDimensionConfig { Problem = "linear_constraints", Dims = { Enumerable.Range(1, 65).Select(i => (long)i) } }), "config.dims");
        AssertInvalid(await Fails(new IntrinsicDimensionConfig { Problem = "linear_constraints", Steps = 1 << 30, Dims = { 2 } }), "config.steps");
        AssertInvalid(await Fails(new IntrinsicDimensionConfig { Problem = "classifier", Hidden = 1 << 20, Dims = { 2 } }, ("features", features), ("labels", labels)), "config.hidden");
    }
}
