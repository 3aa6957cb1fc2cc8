using ConceptSuite.Bottleneck.Methods;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Concepts;
using ConceptSuite.Tests.Infrastructure;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;
using N = ConceptSuite.Core.Concepts.ConceptModel.TensorNames;
using S = ConceptSuite.Tests.Bottleneck.SyntheticConcepts;
using Svc = ConceptSuite.Tests.Bottleneck.BottleneckServiceTests;

namespace ConceptSuite.Tests.Bottleneck;

/// <summary>The Grassmann head of ConceptModel (head_kind "grassmann") and the "grassmann" method (GCR).</summary>
public class GrassmannHeadTests
{
    const float Scale = 3f;

    /// <summary>D = 4 inputs → K = 3 linear concepts (standardized by μ, σ) → C = 2 classes, each a subspace of dimension r.</summary>
    internal static ConceptModel Tiny(int r = 2, bool l2 = false, Func<Dictionary<string, Tensor>, Dictionary<string, Tensor>>? tamper = null,
        Func<ConceptModelSpec, ConceptModelSpec>? tamperSpec = null)
    {
        using var scope = NewDisposeScope();
        var gen = new Generator(5);
        var t = new Dictionary<string, Tensor>
        {
            [N.InputMean] = zeros(4), [N.InputScale] = ones(4),
            [N.ConceptWeight] = randn(3, 4, generator: gen), [N.ConceptBias] = randn(3, generator: gen),
            [N.ConceptMean] = tensor(new float[] { 0.5f, -0.2f, 0.1f }), [N.ConceptScale] = tensor(new float[] { 2f, 0.5f, 1f }),
            [N.HeadSubspaces] = GrassmannClassRepresentation.Retract(randn([2, 3, r], generator: gen)),
            [N.HeadBias] = tensor(new float[] { 0.25f, -0.5f }),
        };
        var spec = new ConceptModelSpec
        {
            ModelType = "grassmann", InputDim = 4, ConceptNames = ["a", "b", "c"], ClassNames = ["x", "y"],
            ConceptActivation = ConceptActivations.Linear, L2NormalizeConcepts = l2, HeadKind = HeadKinds.Grassmann, HeadScale = Scale,
        };
        return new ConceptModel(tamperSpec?.Invoke(spec) ?? spec, tamper?.Invoke(t) ?? t);
    }

    /// <summary>s·‖S_jᵀz‖ + b_j in float64, from the stored tensors (independent of the model's code path).</summary>
    static Tensor ReferenceLogits(ConceptModel m, Tensor z) =>
        einsum("nk,ckr->ncr", z.to(ScalarType.Float64), m.HeadSubspaces.to(ScalarType.Float64)).norm(2) * Scale + m.HeadBias.to(ScalarType.Float64);

    [Fact]
    public async Task LinearSpecsSerializeAsBeforeHeadKindsSoStoredIdsAreUnchanged()
    {
        // The metadata of a linear model, byte for byte as written before head kinds existed:
        // no head_kind, no head_scale (also when "linear" is set explicitly).
        var spec = new ConceptModelSpec { ModelType = "tiny", InputDim = 2, ConceptNames = ["a", "b"], ClassNames = ["p", "q"], HeadKind = HeadKinds.Linear };
        const string expected = "{\"format\":\"conceptsuite.bottleneck.v1\",\"model_type\":\"tiny\",\"input_dim\":2,\"concept_names\":[\"a\",\"b\"],"
            + "\"class_names\":[\"p\",\"q\"],\"concept_activation\":\"linear\",\"has_concept_layer\":true,\"l2_normalize_concepts\":false,"
            + "\"has_residual\":false,\"edits\":{},\"options\":{},\"metrics\":{}}";
        Assert.Equal(expected, spec.ToJson());
        Assert.Equal(HeadKinds.Linear, ConceptModelSpec.FromJson(expected).HeadKind);
        // A linear model's artifact id, pinned: the same as before head kinds (seven models stored by the earlier code
        // reloaded and re-saved to their own ids).
        var dir = Path.Combine(Path.GetTempPath(), "cs-gcr-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var m = new ConceptModel(spec, new Dictionary<string, Tensor>
            {
                [N.InputMean] = zeros(2), [N.InputScale] = ones(2),
                [N.ConceptWeight] = tensor(new float[] { 3, 4, 0, 2 }).reshape(2, 2), [N.ConceptBias] = tensor(new float[] { -5, 1 }),
                [N.ConceptMean] = zeros(2), [N.ConceptScale] = ones(2),
                [N.HeadWeight] = tensor(new float[] { 1, -1, 0, 2 }).reshape(2, 2), [N.HeadBias] = tensor(new float[] { 0.5f, 0 }),
            });
            var info = await m.SaveAsync(new ArtifactStore(dir));
            Assert.Equal("46317adcbbe93d0aec1f25bcac2029891f81f6af61834deb12beaca1bf65c2e3", info.Ref.Id);
        }
        finally { Directory.Delete(dir, true); }
        var g = spec with { HeadKind = HeadKinds.Grassmann, HeadScale = 16 };
        Assert.Contains("\"head_kind\":\"grassmann\",\"head_scale\":16", g.ToJson());
        var back = ConceptModelSpec.FromJson(g.ToJson());
        Assert.Equal(HeadKinds.Grassmann, back.HeadKind);
        Assert.Equal(16, back.HeadScale);
    }

    [Fact]
    public async Task GrassmannLogitsContributionsAndInterventionsAreExactAndSurviveStorage()
    {
        using var m = Tiny(l2: true);
        var x = randn(7, 4, generator: new Generator(9));
        var f = m.Forward(x);
        var z = m.HeadInput(f.Concepts);
        Assert.True((f.Logits.to(ScalarType.Float64) - ReferenceLogits(m, z)).abs().max().item<double>() < 1e-5);
        // The exact decomposition: contributions s·z_k(S_j p̂)_k sum to the logit minus the bias, per class and for all classes.
        var cls = tensor(new long[] { 0, 1, 1, 0, 1, 0, 0 });
        var contrib = m.Contributions(f.Concepts, cls);
        var logit = f.Logits.gather(1, cls.unsqueeze(1)).squeeze(1);
        Assert.True((contrib.sum(1) + m.HeadBias.index_select(0, cls) - logit).abs().max().item<float>() < 1e-4);
        var all = m.ContributionsAll(f.Concepts);
        Assert.Equal(new long[] { 7, 2, 3 }, all.shape);
        Assert.True((all.sum(2) + m.HeadBias - f.Logits).abs().max().item<float>() < 1e-4);
        Assert.True((all.gather(1, cls.view(-1, 1, 1).expand(-1, 1, 3)).squeeze(1) - contrib).abs().max().item<float>() < 1e-5);
        // A row whose projection on a class subspace is 0 contributes nothing and its logit is the bias.
        Assert.Equal(0f, m.Contributions(m.Tensors[N.ConceptMean].unsqueeze(0), tensor(new long[] { 1 })).abs().sum().item<float>());
        // Interventions recompute the logits through the head from the edited concepts.
        var (ci, li) = m.Intervene(x, [1], tensor(new float[] { 2.5f }));
        Assert.True(ci.select(1, 1).eq(2.5f).all().item<bool>());
        Assert.True((li.to(ScalarType.Float64) - ReferenceLogits(m, m.HeadInput(ci))).abs().max().item<double>() < 1e-5);
        Assert.False(li.allclose(f.Logits));
        Assert.Equal(new float[] { 3, 3 }, m.ConceptsPerClass().data<float>().ToArray());
        // Stored and loaded: same spec, same tensors, same outputs.
        var dir = Path.Combine(Path.GetTempPath(), "cs-gcr-" + Guid.NewGuid().ToString("N"));
        try
        {
            var store = new ArtifactStore(dir);
            var info = await m.SaveAsync(store);
            using var loaded = ConceptModel.Load(store, info.Ref.Id, null, "model");
            Assert.True(loaded.IsGrassmann);
            Assert.Equal((double)Scale, loaded.Spec.HeadScale);
            Assert.False(loaded.Tensors.ContainsKey(N.HeadWeight));
            Assert.True(loaded.Forward(x).Logits.allclose(f.Logits));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void RankOneGrassmannIsTheAbsoluteValueOfTheNormalizedLinearHead()
    {
        using var scope = NewDisposeScope();
        using var g = Tiny(r: 1, l2: true);
        // The linear head with W_j = s·ŝ_j on the same (ℓ2-normalized) head input.
        var t = g.Tensors.ToDictionary(kv => kv.Key, kv => kv.Value);
        t.Remove(N.HeadSubspaces);
        t[N.HeadWeight] = g.HeadSubspaces.squeeze(2) * Scale;
        using var lin = new ConceptModel(g.Spec with { HeadKind = HeadKinds.Linear, HeadScale = null }, t);
        var x = randn(50, 4, generator: new Generator(11));
        var lg = g.Forward(x).Logits - g.HeadBias;
        var ll = lin.Forward(x).Logits - lin.HeadBias;
        // s·‖ŝ_jᵀz‖ = s·|ŝ_jᵀz|: a subspace has no sign, so r = 1 is the cosine head up to the sign of each score.
        Assert.True((lg - ll.abs()).abs().max().item<float>() < 1e-5);
        Assert.True(ll.lt(0).any().item<bool>(), "the check needs rows on both sides of some ŝ_j");
    }

    [Fact]
    public async Task AGlobalEditZeroesTheConceptsHeadInputAndKeepsTheSubspaces()
    {
        using var m = Tiny(l2: true);
        using var edited = m.Edit(new Dictionary<int, double> { [1] = 0, [2] = 0.5 });
        var x = randn(6, 4, generator: new Generator(13));
        var c = m.Concepts(x);
        var z = m.HeadInput(c) * tensor(new float[] { 1, 0, 0.5f });
        Assert.True((edited.Forward(x).Logits.to(ScalarType.Float64) - ReferenceLogits(m, z)).abs().max().item<double>() < 1e-5);
        Assert.True(edited.ContributionsAll(c).select(2, 1).eq(0).all().item<bool>());
        Assert.True((edited.ContributionsAll(c).sum(2) + edited.HeadBias - edited.Forward(x).Logits).abs().max().item<float>() < 1e-4);
        Assert.True(edited.HeadSubspaces.eq(m.HeadSubspaces).all().item<bool>());
        Assert.Equal(0.0, edited.Spec.Edits["b"]);
        Assert.Equal(new float[] { 2, 2 }, edited.ConceptsPerClass().data<float>().ToArray());
        // Edits compose, and a stored edited model keeps its gate.
        using var twice = edited.Edit(new Dictionary<int, double> { [2] = 0.5 });
        Assert.Equal(0.25, twice.Spec.Edits["c"]);
        var dir = Path.Combine(Path.GetTempPath(), "cs-gcr-" + Guid.NewGuid().ToString("N"));
        try
        {
            var store = new ArtifactStore(dir);
            var info = await edited.SaveAsync(store);
            using var loaded = ConceptModel.Load(store, info.Ref.Id, null, "model");
            Assert.True(loaded.Forward(x).Logits.allclose(edited.Forward(x).Logits));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void TamperedGrassmannArtifactsAreInvalidDataNotCrashes()
    {
        void Bad(string why, Func<Dictionary<string, Tensor>, Dictionary<string, Tensor>>? tamper = null, Func<ConceptModelSpec, ConceptModelSpec>? spec = null)
        {
            var e = Assert.Throws<InvalidDataException>(() => Tiny(tamper: tamper, tamperSpec: spec));
            Assert.Contains(why, e.Message);
        }
        Bad("not orthonormal", t => { t[N.HeadSubspaces] = t[N.HeadSubspaces] * 1.01f; return t; });
        Bad("not orthonormal", t => { t[N.HeadSubspaces] = ones(2, 3, 2) / MathF.Sqrt(3); return t; });
        Bad("non-finite", t => { var s = t[N.HeadSubspaces].clone(); s[0, 0, 0] = float.NaN; t[N.HeadSubspaces] = s; return t; });
        Bad("expected [2, 3, r]", t => { t[N.HeadSubspaces] = zeros(2, 3, 4); return t; });
        Bad("expected [2, 3, r]", t => { t[N.HeadSubspaces] = zeros(3, 3, 2); return t; });
        Bad("expected [2, 3, r]", t => { t[N.HeadSubspaces] = zeros(2, 3); return t; });
        Bad("expected [2, 3, r]", t => { t[N.HeadSubspaces] = zeros(2, 3, 0); return t; });
        Bad("'head_subspaces' is missing", t => { t.Remove(N.HeadSubspaces); return t; });
        Bad("has no 'head_weight'", t => { t[N.HeadWeight] = zeros(2, 3); return t; });
        Bad("head_scale", spec: s => s with { HeadScale = null });
        Bad("head_scale", spec: s => s with { HeadScale = -1 });
        Bad("head_scale", spec: s => s with { HeadScale = double.PositiveInfinity });
        Bad("head_scale", spec: s => s with { HeadScale = 1e9 });
        Bad("head kind 'quadratic' is unknown", spec: s => s with { HeadKind = "quadratic" });
        Bad("unknown concept 'zz'", spec: s => s with { Edits = new() { ["zz"] = 0 } });
        Bad("must be finite", spec: s => s with { Edits = new() { ["a"] = double.NaN } });
        Bad("no head_scale", t => { t[N.HeadWeight] = zeros(2, 3); t.Remove(N.HeadSubspaces); return t; }, s => s with { HeadKind = HeadKinds.Linear });
        Bad("has no 'head_subspaces'", t => { t[N.HeadWeight] = zeros(2, 3); return t; }, s => s with { HeadKind = HeadKinds.Linear, HeadScale = null });
        Assert.Throws<InvalidOperationException>(() => Tiny().HeadWeight);
    }

    [Fact]
    public void RiemannianSgdKeepsTheSubspacesOrthonormalAndFitsSyntheticConcepts()
    {
        using var scope = NewDisposeScope();
        var data = S.Data(600, 21);
        var (ex, ey, _) = S.Generate(300, 22);
        var acc = new Dictionary<string, double>();
        var fits = new Dictionary<string, BottleneckFit>();
        foreach (var (layer, representation, r) in new[] { ("cbm", "subspace", 1), ("cbm", "subspace", 4), ("features", "vector", 1), ("features", "subspace", 4) })
        {
            var label = $"{layer}_{representation}{r}";
            var fit = S.Method("grassmann", ("concept_layer", layer), ("representation", representation), ("subspace_dim", r.ToString()), ("epochs", "15"))
                .Fit(data, S.NoProgress, default);
            fits[label] = fit;
            var model = fit.Model;
            Assert.True(fit.Metrics["orthonormality_error"] < 1e-4, $"{label}: {fit.Metrics["orthonormality_error"]}");
            if (representation == "subspace")
            {
                Assert.Equal(new long[] { S.C, layer == "cbm" ? S.K : S.D, r }, model.HeadSubspaces.shape);
                Assert.Equal(fit.Metrics["orthonormality_error"], ConceptModel.OrthonormalityError(model.HeadSubspaces), 6);
            }
            else
            {
                // The vector baseline is stored as the normalized linear head it is: rows of W_h have norm s.
                Assert.False(model.IsGrassmann);
                Assert.True((model.HeadWeight.norm(1) - 16).abs().max().item<float>() < 1e-3);
            }
            using (inference_mode())
            {
                var f = model.Forward(ex);
                acc[label] = ConceptSuite.Bottleneck.Fitting.LinearFits.Accuracy(f.Logits, ey);
                var cls = f.Logits.argmax(1);
                var rebuilt = model.Contributions(f.Concepts, cls).sum(1) + model.HeadBias.index_select(0, cls);
                Assert.True((rebuilt - f.Logits.gather(1, cls.unsqueeze(1)).squeeze(1)).abs().max().item<float>() < 1e-4);
            }
        }
        string all = string.Join(", ", acc.Select(kv => $"{kv.Key} {kv.Value:F4}"));
        // Measured (4 classes, chance 0.25): on the CBM's concept probabilities r = 1 0.997, r = 4 0.977; on the features
        // the signed vector head 0.953, but subspaces (r = 4) 0.493: these features are symmetric about 0 (x = (2c − 1)A + noise)
        // and ‖S_jᵀz‖ = ‖S_jᵀ(−z)‖, so a class subspace cannot tell a row from its mirror image.
        Assert.True(acc["cbm_subspace1"] > 0.95 && acc["cbm_subspace4"] > 0.95, all);
        Assert.True(acc["features_vector1"] > 0.9, all);
        Assert.True(acc["features_subspace4"] < acc["features_vector1"] - 0.3, all);
        Assert.Equal("cbm", fits["cbm_subspace4"].Model.Spec.Options["concept_layer"]);
        Assert.Equal(ConceptActivations.Sigmoid, fits["cbm_subspace4"].Model.Spec.ConceptActivation);
        Assert.True(fits["cbm_subspace4"].Metrics["within_class_variance_captured"] > fits["cbm_subspace1"].Metrics["within_class_variance_captured"]);
        // Same data and seed, same model.
        var again = S.Method("grassmann", ("concept_layer", "cbm"), ("subspace_dim", "4"), ("epochs", "15")).Fit(data, S.NoProgress, default);
        Assert.True(again.Model.HeadSubspaces.eq(fits["cbm_subspace4"].Model.HeadSubspaces).all().item<bool>());
        foreach (var fit in fits.Values) fit.Model.Dispose();
        again.Model.Dispose();
    }

    [Fact]
    public async Task TheServiceTrainsServesAndRejectsHostileGrassmannRequests()
    {
        await using var server = await SuiteTestServer.StartAsync("bottleneck", null, ("ConceptSuite:MaxCallBytes", (64L << 20).ToString()));
        var client = new BottleneckService.BottleneckServiceClient(server.Channel);
        var (x, y, c) = S.Generate(400, 31);
        var config = BottleneckServerFixture.Config("grassmann");
        config.Options["subspace_dim"] = "3";
        config.Options["epochs"] = "10";
        var trained = await BottleneckServerFixture.TrainAsync(client, config, ("features", x), ("labels", y), ("concept_labels", c));
        var id = trained.Artifact.Ref.Id;
        Assert.True(trained.Metrics["train_accuracy"] > 0.6, $"train accuracy {trained.Metrics["train_accuracy"]}");
        var info = await client.GetModelAsync(new GetBottleneckModelRequest { Model = new ArtifactRef { Id = id } });
        Assert.Equal(HeadKinds.Grassmann, ConceptModelSpec.FromJson(info.SpecJson).HeadKind);
        var predicted = await Svc.Predict(client, id, x);
        var contributions = await Svc.Contributions(client, new ContributionsConfig { Model = new ArtifactRef { Id = id } }, x);
        var rebuilt = contributions["contributions"].sum(1) + contributions["bias"] + contributions["residual"];
        Assert.True((rebuilt - predicted["logits"].gather(1, contributions["classes"].unsqueeze(1)).squeeze(1)).abs().max().item<float>() < 1e-4);
        var intervened = await Svc.Intervene(client, new InterveneConfig { Model = new ArtifactRef { Id = id }, Concepts = { "c0" }, Values = { 1f } }, x);
        Assert.True(intervened["concepts"].select(1, 0).eq(1f).all().item<bool>());
        // Probability concepts (the CBM layer) still take interventions only in [0, 1].
        Svc.AssertInvalid(await Assert.ThrowsAsync<RpcException>(() =>
            Svc.Intervene(client, new InterveneConfig { Model = new ArtifactRef { Id = id }, Concepts = { "c0" }, Values = { 1.5f } }, x)), "values");
        var edited = await client.EditAsync(new EditRequest { Model = new ArtifactRef { Id = id }, Edits = { new ConceptEdit { Concept = "c0", Factor = 0 } } });
        var afterEdit = await Svc.Contributions(client, new ContributionsConfig { Model = edited.Artifact.Ref, AllClasses = true }, x);
        Assert.True(afterEdit["contributions"].select(2, 0).eq(0).all().item<bool>());

        // Options: r above K, r below 1, and C·K·r over the per-call budget, before anything is trained.
        async Task<RpcException> Train(TrainConfig cfg, params (string, Tensor)[] tensors) =>
            await Assert.ThrowsAsync<RpcException>(() => BottleneckServerFixture.TrainAsync(client, cfg, tensors));
        var tooWide = BottleneckServerFixture.Config("grassmann");
        tooWide.Options["subspace_dim"] = (S.K + 1).ToString();
        Svc.AssertInvalid(await Train(tooWide, ("features", x), ("labels", y), ("concept_labels", c)), "config.options.subspace_dim");
        var zero = BottleneckServerFixture.Config("grassmann");
        zero.Options["subspace_dim"] = "0";
        Svc.AssertInvalid(await Train(zero, ("features", x), ("labels", y)), "config.options.subspace_dim");
        var huge = new TrainConfig { ModelType = "grassmann", Seed = 1 };
        huge.Options["subspace_dim"] = "1024";
        // 4 classes × K = 1024 features × r = 1024 × 32 bytes = 128 MiB of head state, over the 64 MiB budget.
        Svc.AssertInvalid(await Train(huge, ("features", randn(8, 1024)), ("labels", tensor(new long[] { 0, 1, 2, 3, 0, 1, 2, 3 }))),
            "config.options.subspace_dim", StatusCode.ResourceExhausted);

        // A stored model whose subspaces were tampered with is INVALID_ARGUMENT, and the service keeps serving.
        var store = server.Services.GetRequiredService<ArtifactStore>();
        using var good = ConceptModel.Load(store, id, null, "model");
        var tensors = good.Tensors.ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        tensors[N.HeadSubspaces] = tensors[N.HeadSubspaces] * 2;
        var tampered = await store.PutAsync(ConceptModel.ArtifactKind, tensors, good.Spec.ToJson());
        Svc.AssertInvalid(await Assert.ThrowsAsync<RpcException>(() => Svc.Predict(client, tampered.Ref.Id, x)), "not orthonormal");
        Assert.True((await Svc.Predict(client, id, x))["logits"].allclose(predicted["logits"]));
    }
}
