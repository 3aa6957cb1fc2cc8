using ConceptSuite.Bottleneck.Data;
using ConceptSuite.Bottleneck.Fitting;
using ConceptSuite.Bottleneck.Methods;
using ConceptSuite.Core.Concepts;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;
using N = ConceptSuite.Core.Concepts.ConceptModel.TensorNames;
using S = ConceptSuite.Tests.Bottleneck.SyntheticConcepts;

namespace ConceptSuite.Tests.Bottleneck;

/// <summary>Closed forms and measured quality of each model type on <see cref="SyntheticConcepts"/>.</summary>
public class BottleneckMethodTests(ITestOutputHelper output)
{
    static BottleneckFit Fit(string modelType, BottleneckData d, params (string, string)[] options) =>
        S.Method(modelType, options).Fit(d, S.NoProgress, CancellationToken.None);

    [Fact]
    public void PcbmConceptScoreIsTheSignedDistanceToEachCavHyperplane()
    {
        using var scope = NewDisposeScope();
        var d = S.Data(800, 1);
        var fit = Fit(PosthocCbm.TypeName, d);
        using var model = fit.Model;
        var (x, _, _) = S.Generate(64, 2);
        var w = model.Tensors[N.ConceptWeight].to(ScalarType.Float64);
        var b = model.Tensors[N.ConceptBias].to(ScalarType.Float64);
        var expected = (x.to(ScalarType.Float64).matmul(w.t()) + b) / w.norm(1);
        using (inference_mode())
            Assert.True(model.Concepts(x).to(ScalarType.Float64).allclose(expected, 1e-5, 1e-5));
        Assert.True(model.Tensors[N.ConceptMargin].to(ScalarType.Float64).allclose(1 / w.norm(1), 1e-5, 1e-6));
        // Each CAV separates its concept: measured train accuracy 1.0 for all 8 concepts (noise σ = 1).
        output.WriteLine($"cav accuracy mean {fit.Metrics["cav_accuracy_mean"]:F4} min {fit.Metrics["cav_accuracy_min"]:F4}, train accuracy {fit.Metrics["train_accuracy"]:F4}");
        Assert.True(fit.Metrics["cav_accuracy_mean"] >= 0.9, $"cav accuracy {fit.Metrics["cav_accuracy_mean"]}");
    }

    [Fact]
    public void PcbmHLogitsArePcbmLogitsPlusResidualLogits()
    {
        using var scope = NewDisposeScope();
        var d = S.Data(800, 3);
        using var pcbm = Fit(PosthocCbm.TypeName, d).Model;
        var hybridFit = Fit(PosthocCbmHybrid.TypeName, d);
        using var hybrid = hybridFit.Model;
        var (x, y, _) = S.Generate(200, 4);
        using var mode = inference_mode();
        var f = hybrid.Forward(x);
        var residual = x.matmul(hybrid.Tensors[N.ResidualWeight].t()) + hybrid.Tensors[N.ResidualBias];
        // The hybrid's concept part is exactly the PCBM fitted alone (same data, deterministic fit).
        Assert.True(f.Logits.allclose(pcbm.Forward(x).Logits + residual, 1e-4, 1e-4));
        Assert.True(f.ResidualLogits!.allclose(residual, 1e-5, 1e-5));
        double accP = LinearFits.Accuracy(pcbm.Forward(x).Logits, y), accH = LinearFits.Accuracy(f.Logits, y);
        output.WriteLine($"held-out accuracy pcbm {accP:F4} pcbm_h {accH:F4}");
        // Measured: PCBM 0.950, PCBM-h 0.935 on 200 held-out rows (the residual may cost a little on 800 training rows).
        Assert.True(accH >= accP - 0.02, $"pcbm_h {accH} vs pcbm {accP}");
    }

    [Fact]
    public void CbmPredictsConceptsAccuratelyAndTrueConceptInterventionsFixMostErrors()
    {
        using var scope = NewDisposeScope();
        // Noise σ = 2.2 makes concept predictions imperfect, so that some inputs are misclassified.
        var d = S.Data(3000, 5, noise: 2.2);
        var fit = Fit(ConceptBottleneckModel.TypeName, d, ("training", "sequential"));
        using var model = fit.Model;
        var (x, y, c) = S.Generate(2000, 6, noise: 2.2);
        using var mode = inference_mode();
        var f = model.Forward(x);
        double conceptAcc = LinearFits.ConceptAccuracy(f.Concepts, c), acc = LinearFits.Accuracy(f.Logits, y);
        var wrong = f.Logits.argmax(1).ne(y).nonzero().squeeze(1);
        long nWrong = wrong.shape[0];
        var xw = x.index_select(0, wrong);
        var (_, fixedLogits) = model.Intervene(xw, Enumerable.Range(0, S.K).ToList(), c.index_select(0, wrong));
        double fixedShare = fixedLogits.argmax(1).eq(y.index_select(0, wrong)).to(ScalarType.Float32).mean().item<float>();
        output.WriteLine($"cbm concept accuracy {conceptAcc:F4}, accuracy {acc:F4}, misclassified {nWrong}, fixed by true concepts {fixedShare:F4}");
        // Measured: concept accuracy 0.972, accuracy 0.9375, 125 of 2000 misclassified, all 125 fixed (1.000)
        // by intervening with the true concepts. Bounds: the issue's 0.95, and "most" as at least 0.9.
        Assert.True(conceptAcc >= 0.95, $"concept accuracy {conceptAcc}");
        Assert.True(nWrong > 10, $"{nWrong} misclassified");
        Assert.True(fixedShare >= 0.9, $"fixed share {fixedShare}");
    }

    [Theory]
    [InlineData("independent")]
    [InlineData("joint")]
    public void CbmTrainsInEveryMode(string training)
    {
        using var scope = NewDisposeScope();
        var fit = Fit(ConceptBottleneckModel.TypeName, S.Data(1500, 7), ("training", training), ("joint_epochs", "5"));
        using var model = fit.Model;
        output.WriteLine($"{training}: train accuracy {fit.Metrics["train_accuracy"]:F4}, concept accuracy {fit.Metrics["train_concept_accuracy"]:F4}");
        Assert.True(fit.Metrics["train_concept_accuracy"] >= 0.93, $"concept accuracy {fit.Metrics["train_concept_accuracy"]}");
        Assert.True(fit.Metrics["train_accuracy"] >= 0.8, $"accuracy {fit.Metrics["train_accuracy"]}");
        Assert.Equal(ConceptActivations.Sigmoid, model.Spec.ConceptActivation);
    }

    [Fact]
    public void EditRemovingAConceptChangesExactlyThePredictionsThatDependedOnIt()
    {
        using var scope = NewDisposeScope();
        using var model = Fit(PosthocCbm.TypeName, S.Data(800, 8)).Model;
        var (x, _, _) = S.Generate(1000, 9);
        using var mode = inference_mode();
        int k = (int)model.HeadWeight.abs().sum([0]).argmax().item<long>();
        using var edited = model.Edit(new Dictionary<int, double> { [k] = 0 });
        var f = model.Forward(x);
        var before = f.Logits.argmax(1);
        // Depended on concept k: the argmax moves once k's share W_h[:, k]·z_k leaves every logit.
        var expectedChanged = (f.Logits - model.ContributionsAll(f.Concepts).select(2, k)).argmax(1).ne(before);
        var changed = edited.Forward(x).Logits.argmax(1).ne(before);
        long nChanged = changed.sum().item<long>();
        output.WriteLine($"removing '{model.ConceptNames[k]}' changed {nChanged} of 1000 predictions");
        Assert.True(changed.eq(expectedChanged).all().item<bool>());
        Assert.True(nChanged > 0);
        Assert.True(edited.HeadWeight.select(1, k).eq(0).all().item<bool>());
        Assert.Equal(0.0, edited.Spec.Edits[model.ConceptNames[k]]);
    }

    [Fact]
    public void SparseProbeKeepsTheBestPathPointWithinTheConceptBudget()
    {
        using var scope = NewDisposeScope();
        var d = S.Data(1500, 10);
        // Discovered concepts = the features themselves (K = D = 24).
        var fit = Fit(SparseConceptProbe.TypeName, d with { ConceptNames = [], ConceptLabels = null }, ("max_concepts_per_class", "3"));
        using var model = fit.Model;
        var perClass = model.HeadWeight.ne(0).sum(1);
        output.WriteLine($"chosen λ {fit.Metrics["chosen_lambda"]:G4}, accuracy {fit.Metrics["chosen_accuracy"]:F4} at {fit.Metrics["chosen_concepts_per_class"]} concepts/class");
        Assert.True(perClass.max().item<long>() <= 3);
        Assert.True(fit.Metrics.ContainsKey("path_19_accuracy"));
        Assert.True(fit.Metrics["path_19_concepts_per_class"] > 3, "the path ends denser than the budget");
        // Measured: accuracy 0.484 at 3 concepts per class (λ = 0.175) on raw features.
        Assert.True(fit.Metrics["chosen_accuracy"] >= 0.45, $"accuracy {fit.Metrics["chosen_accuracy"]}");
        Assert.False(model.Spec.HasConceptLayer);
    }

    [Theory]
    [InlineData("l1")]
    [InlineData("contrastive")]
    [InlineData("gumbel")]
    public void SparseCbmTrainsWithEachObjective(string objective)
    {
        using var scope = NewDisposeScope();
        var fit = Fit(SparseCbm.TypeName, S.Data(1500, 11, withConcepts: false), ("objective", objective), ("concepts", "16"), ("epochs", "10"));
        using var model = fit.Model;
        output.WriteLine($"{objective}: train accuracy {fit.Metrics["train_accuracy"]:F4}");
        // Measured train accuracy: l1 0.955, contrastive 0.961, gumbel 0.849.
        Assert.True(fit.Metrics["train_accuracy"] >= 0.7, $"accuracy {fit.Metrics["train_accuracy"]}");
        Assert.Equal(objective == "gumbel" ? ConceptActivations.Softmax : ConceptActivations.Linear, model.Spec.ConceptActivation);
    }

    [Fact]
    public void ConceptMatrixSearchLogitsAreCosinesOfConceptProfiles()
    {
        using var scope = NewDisposeScope();
        var d = S.Data(500, 12);
        var bank = randn(S.K, S.D, generator: new Generator(3));
        var classEmb = randn(S.C, S.D, generator: new Generator(4));
        using var model = Fit(ConceptMatrixSearch.TypeName, d with { ConceptBank = bank, ClassEmbeddings = classEmb }).Model;
        var (x, _, _) = S.Generate(50, 13);
        var t = bank / bank.norm(1, keepdim: true);
        var s = x.matmul(t.t());
        var m = classEmb.matmul(t.t());
        var expected = nn.functional.normalize(s, dim: 1).matmul(nn.functional.normalize(m, dim: 1).t());
        using (inference_mode()) Assert.True(model.Forward(x).Logits.allclose(expected, 1e-4, 1e-5));
        Assert.Equal("text", model.Spec.Options["class_matrix"]);
    }

    [Fact]
    public void LinearProbeIsTheBaseline()
    {
        using var scope = NewDisposeScope();
        var fit = Fit(LinearProbe.TypeName, S.Data(1500, 14, withConcepts: false));
        using var model = fit.Model;
        output.WriteLine($"probe train accuracy {fit.Metrics["train_accuracy"]:F4}");
        Assert.True(fit.Metrics["train_accuracy"] >= 0.8);
        Assert.Equal(S.D, model.ConceptCount);
    }

    [Fact]
    public void FashionMnistAttributeTableSeparatesEveryClass()
    {
        var table = FashionMnistAttributes.Load();
        Assert.Equal(ConceptSuite.Core.Data.FashionMnist.ClassNames, table.ClassNames);
        Assert.InRange(table.AttributeNames.Count, 15, 25);
        var rows = Enumerable.Range(0, 10).Select(c => string.Join("", Enumerable.Range(0, table.AttributeNames.Count).Select(k => table.Matrix[c, k]))).ToList();
        Assert.Equal(10, rows.Distinct().Count());
        using var labels = table.LabelsFor(tensor(new long[] { 8, 5 }));
        var handle = table.AttributeNames.ToList().IndexOf("handle");
        Assert.Equal(1f, labels[0, handle].item<float>());
        Assert.Equal(0f, labels[1, handle].item<float>());
    }
}
