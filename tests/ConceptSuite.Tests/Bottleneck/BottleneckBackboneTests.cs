using ConceptSuite.Bottleneck.Data;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Data;
using ConceptSuite.Tests.Infrastructure;
using Xunit.Abstractions;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;
using Svc = ConceptSuite.Tests.Bottleneck.BottleneckServiceTests;

namespace ConceptSuite.Tests.Bottleneck;

/// <summary>
/// Every model type trained and evaluated through the RPC on real backbone features: ResNet18 pool
/// features of Fashion-MNIST (500 train / 500 test, concepts from the class-level attribute table) and
/// of concept-shapes (600 / 300, per-instance concept labels). Features come from the embedding stage
/// once and are cached (see <see cref="BackboneFeatures"/>).
/// </summary>
public class BottleneckBackboneTests(ITestOutputHelper output)
{
    static TrainConfig Config(string type, IEnumerable<string> classes, IEnumerable<string>? concepts, params (string, string)[] options)
    {
        var config = new TrainConfig { ModelType = type, Seed = 7 };
        config.ClassNames.Add(classes);
        if (concepts is not null) config.ConceptNames.Add(concepts);
        foreach (var (k, v) in options) config.Options[k] = v;
        return config;
    }

    static double Accuracy(Tensor logits, Tensor labels) => logits.argmax(1).eq(labels).to(ScalarType.Float32).mean().item<float>();

    [Fact]
    public async Task EveryModelTrainsThroughTheRpcOnResNet18FashionMnistFeatures()
    {
        var (x, y) = await BackboneFeatures.FashionMnistAsync("train", 500);
        var (xt, yt) = await BackboneFeatures.FashionMnistAsync("test", 500);
        var attributes = FashionMnistAttributes.Load();
        var (c, ct) = (attributes.LabelsFor(y), attributes.LabelsFor(yt));
        var atoms = BackboneFeatures.NmfAtoms(x, 64, 7);
        var atomNames = Enumerable.Range(0, 64).Select(i => $"nmf{i}").ToList();
        await using var server = await SuiteTestServer.StartAsync("bottleneck");
        var client = new BottleneckService.BottleneckServiceClient(server.Channel);
        var classes = FashionMnist.ClassNames;
        (string, Tensor)[] Eval() => [("eval_features", xt), ("eval_labels", yt)];
        var runs = new (string Label, TrainConfig Config, (string, Tensor)[] Tensors)[]
        {
            ("linear_probe", Config("linear_probe", classes, null), [("features", x), ("labels", y), .. Eval()]),
            ("cbm", Config("cbm", classes, attributes.AttributeNames), [("features", x), ("labels", y), ("concept_labels", c), .. Eval(), ("eval_concept_labels", ct)]),
            ("pcbm", Config("pcbm", classes, attributes.AttributeNames, ("bank", "cav")), [("features", x), ("labels", y), ("concept_labels", c), .. Eval()]),
            ("pcbm_h", Config("pcbm_h", classes, attributes.AttributeNames, ("bank", "cav")), [("features", x), ("labels", y), ("concept_labels", c), .. Eval()]),
            // No eval rows: the path point is chosen on the training rows, never on the test rows.
            ("sparse_probe", Config("sparse_probe", classes, atomNames, ("max_concepts_per_class", "5")), [("features", x), ("labels", y), ("concept_bank", atoms)]),
            ("sparse_cbm", Config("sparse_cbm", classes, null, ("objective", "gumbel"), ("concepts", "32"), ("epochs", "10")), [("features", x), ("labels", y), .. Eval()]),
            ("concept_matrix_search", Config("concept_matrix_search", classes, atomNames), [("features", x), ("labels", y), ("concept_bank", atoms), .. Eval()]),
        };
        var acc = new Dictionary<string, double>();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        foreach (var (label, config, tensors) in runs)
        {
            var result = await BottleneckServerFixture.TrainAsync(client, config, tensors);
            var predicted = await Svc.Predict(client, result.Artifact.Ref.Id, xt);
            acc[label] = Accuracy(predicted["logits"], yt);
            if (result.Metrics.TryGetValue("eval_accuracy", out var evalAcc)) Assert.Equal(evalAcc, acc[label], 4);
            output.WriteLine($"{label}: test accuracy {acc[label]:F4}, max concepts/class {result.Metrics["concepts_per_class_max"]:F0}" +
                (result.Metrics.TryGetValue("eval_concept_accuracy", out var ca) ? $", concept accuracy {ca:F4}" : ""));
            if (label == "sparse_probe") Assert.True(result.Metrics["concepts_per_class_max"] <= 5);
        }
        output.WriteLine($"7 models trained and evaluated in {sw.Elapsed.TotalSeconds:F1} s");
        // Measured on 500 / 500 rows (ResNet18 pool): probe 0.828, CBM 0.796 (concept accuracy 0.960), PCBM 0.806,
        // PCBM-h 0.822, sparse probe 0.722 at ≤ 5 concepts per class, Sparse-CBM 0.684, Concept Matrix Search 0.754
        // (the last two on 64 NMF atoms from NNDSVDa-initialised HALS).
        // Bounds: ±0.03 around each (CPU floating-point differences), and PCBM-h within 1 point of the probe.
        Assert.InRange(acc["linear_probe"], 0.798, 0.858);
        Assert.InRange(acc["cbm"], 0.766, 0.826);
        Assert.InRange(acc["pcbm"], 0.776, 0.836);
        Assert.InRange(acc["pcbm_h"], 0.792, 0.852);
        Assert.True(acc["pcbm_h"] >= acc["linear_probe"] - 0.01, $"pcbm_h {acc["pcbm_h"]} vs probe {acc["linear_probe"]}");
        Assert.InRange(acc["sparse_probe"], 0.692, 0.752);
        Assert.InRange(acc["sparse_cbm"], 0.654, 0.714);
        Assert.InRange(acc["concept_matrix_search"], 0.724, 0.784);
    }

    [Fact]
    public async Task CbmOnResNet18ConceptShapesFeaturesPredictsConceptsInterventionsFixErrorsAndEditsActExactly()
    {
        var (train, trainData) = await BackboneFeatures.ConceptShapesAsync(600, 1);
        var (test, testData) = await BackboneFeatures.ConceptShapesAsync(300, 2);
        using var _ = trainData;
        using var __ = testData;
        var (c, ct, y, yt) = (trainData.ConceptLabels!, testData.ConceptLabels!, trainData.Labels, testData.Labels);
        await using var server = await SuiteTestServer.StartAsync("bottleneck");
        var client = new BottleneckService.BottleneckServiceClient(server.Channel);
        var names = ConceptShapes.ConceptNames;
        var results = new Dictionary<string, JobResult>();
        foreach (var tap in new[] { "pool", "layer4_2x2" })
        {
            results[tap] = await BottleneckServerFixture.TrainAsync(client, Config("cbm", trainData.ClassNames, names),
                ("features", train[tap]), ("labels", y), ("concept_labels", c), ("eval_features", test[tap]), ("eval_labels", yt), ("eval_concept_labels", ct));
            output.WriteLine($"cbm on {tap}: concept accuracy {results[tap].Metrics["eval_concept_accuracy"]:F4}, accuracy {results[tap].Metrics["eval_accuracy"]:F4}");
        }
        const string chosen = "layer4_2x2";
        var xt = test[chosen];
        var id = results[chosen].Artifact.Ref.Id;
        // Measured (600 train / 300 test): concept accuracy 0.9588 on "pool", 0.9867 on "layer4_2x2" (a 2×2 grid
        // of layer4, kept because a global average discards where the shape is); class accuracy 0.990 and 0.977.
        var conceptAcc = results[chosen].Metrics["eval_concept_accuracy"];
        Assert.True(conceptAcc >= 0.95, $"concept accuracy {conceptAcc}");
        Assert.InRange(conceptAcc, 0.975, 0.995);
        Assert.InRange(results["pool"].Metrics["eval_concept_accuracy"], 0.945, 0.97);

        // Intervening with all true concepts on the misclassified test rows.
        var before = (await Svc.Predict(client, id, xt))["predictions"];
        var wrong = before.ne(yt).nonzero().squeeze(1);
        long nWrong = wrong.shape[0];
        var intervene = new InterveneConfig { Model = new ArtifactRef { Id = id } };
        intervene.Concepts.Add(names);
        var fixedPredictions = (await Svc.Intervene(client, intervene, xt.index_select(0, wrong), ct.index_select(0, wrong)))["predictions"];
        double fixedShare = nWrong == 0 ? 1 : fixedPredictions.eq(yt.index_select(0, wrong)).to(ScalarType.Float32).mean().item<float>();
        output.WriteLine($"misclassified {nWrong} of {xt.shape[0]}; intervening with the true concepts fixes {fixedShare:F4}");
        // Measured: 7 of 300 misclassified, all 7 fixed (1.000). Bound: "most" as at least 0.85.
        Assert.InRange(nWrong, 3, 15);
        Assert.True(fixedShare >= 0.85, $"fixed share {fixedShare}");

        // Removing the concept the head leans on most changes exactly the predictions whose argmax moves without its share.
        var contributions = await Svc.Contributions(client, new ContributionsConfig { Model = new ArtifactRef { Id = id }, AllClasses = true }, xt);
        var all = contributions["contributions"];                              // [N, C, K]
        int k = (int)all.abs().sum([0, 1]).argmax().item<long>();
        var expectedChanged = (contributions["logits"] - all.select(2, k)).argmax(1).ne(before);
        var edit = new EditRequest { Model = new ArtifactRef { Id = id } };
        edit.Edits.Add(new ConceptEdit { Concept = names[k], Factor = 0 });
        var edited = await client.EditAsync(edit);
        var changed = (await Svc.Predict(client, edited.Artifact.Ref.Id, xt))["predictions"].ne(before);
        output.WriteLine($"removing '{names[k]}' changed {changed.sum().item<long>()} of {xt.shape[0]} predictions (expected {expectedChanged.sum().item<long>()})");
        // Measured: removing 'triangle' changed 91 of 300 predictions, exactly the 91 expected.
        Assert.True(changed.eq(expectedChanged).all().item<bool>());
        Assert.InRange(changed.sum().item<long>(), 60, 120);
    }

    [Fact]
    public async Task GrassmannClassSubspacesAgainstTheVectorHeadAndTheProbeOnResNet18FashionMnistFeatures()
    {
        var (x, y) = await BackboneFeatures.FashionMnistAsync("train", 500);
        var (xt, yt) = await BackboneFeatures.FashionMnistAsync("test", 500);
        using var scope = NewDisposeScope();
        var data = new ConceptSuite.Bottleneck.Methods.BottleneckData(x, y, FashionMnist.ClassNames, [], Seed: 7);
        var acc = new Dictionary<string, double>();
        var captured = new Dictionary<int, double>();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        using (var probe = SyntheticConcepts.Method("linear_probe").Fit(data, SyntheticConcepts.NoProgress, default).Model)
        using (inference_mode())
            acc["linear_probe"] = Accuracy(probe.Forward(xt).Logits, yt);
        foreach (var (label, representation, r) in new[] { ("vector", "vector", 1), ("grassmann_r1", "subspace", 1), ("grassmann_r4", "subspace", 4), ("grassmann_r8", "subspace", 8) })
        {
            // The same budget for every head: 40 epochs of Riemannian SGD, batch 64, η = 0.1 (cosine schedule), s = 16.
            var fit = SyntheticConcepts.Method("grassmann", ("representation", representation), ("subspace_dim", r.ToString()))
                .Fit(data, SyntheticConcepts.NoProgress, default);
            using var model = fit.Model;
            using (inference_mode()) acc[label] = Accuracy(model.Forward(xt).Logits, yt);
            if (representation == "subspace") captured[r] = fit.Metrics["within_class_variance_captured"];
            Assert.True(fit.Metrics["orthonormality_error"] < 1e-4, $"{label}: orthonormality {fit.Metrics["orthonormality_error"]}");
            output.WriteLine($"{label}: test accuracy {acc[label]:F4}, train {fit.Metrics["train_accuracy"]:F4}, within-class variance in the own subspace {fit.Metrics["within_class_variance_captured"]:F4}");
        }
        output.WriteLine($"linear probe: test accuracy {acc["linear_probe"]:F4}; {sw.Elapsed.TotalSeconds:F1} s");
        // Measured (500 train / 500 test ResNet18 pool features, 10 classes; head input x/‖x‖ as in the paper): linear
        // probe 0.828, vector (cosine softmax) 0.826, Grassmann r = 1 (|cos|) 0.824, r = 4 0.842, r = 8 0.830. Share of the
        // within-class variation of the head inputs that lies in the own class subspace: 0.013 (r = 1), 0.145 (r = 4),
        // 0.206 (r = 8). r = 4 is 1.6 points over the vector head and 1.4 over the probe: the paper's direction, but
        // inside one standard error of a 500-row test set (±0.017), so not a demonstrated gain at this scale.
        // Bounds: ±0.03 around each (CPU floating-point differences), far above chance (0.1).
        Assert.InRange(acc["linear_probe"], 0.798, 0.858);
        Assert.InRange(acc["vector"], 0.796, 0.856);
        Assert.InRange(acc["grassmann_r1"], 0.794, 0.854);
        Assert.InRange(acc["grassmann_r4"], 0.812, 0.872);
        Assert.InRange(acc["grassmann_r8"], 0.800, 0.860);
        Assert.True(acc["grassmann_r4"] >= acc["vector"] - 0.01, $"r=4 {acc["grassmann_r4"]} vs vector {acc["vector"]}");
        Assert.True(acc["grassmann_r4"] >= acc["linear_probe"] - 0.01, $"r=4 {acc["grassmann_r4"]} vs probe {acc["linear_probe"]}");
        Assert.True(captured[1] < captured[4] && captured[4] < captured[8], string.Join(", ", captured.Select(kv => $"r={kv.Key}: {kv.Value:F4}")));
        Assert.True(captured[4] >= 3 * captured[1], $"r=4 {captured[4]} vs r=1 {captured[1]}");
    }
}
