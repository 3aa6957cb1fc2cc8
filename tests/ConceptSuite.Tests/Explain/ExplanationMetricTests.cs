using ConceptSuite.Contracts;
using ConceptSuite.Explain.Importance;
using ConceptSuite.Explain.IntrinsicDimension;
using ConceptSuite.Explain.Metrics;
using TorchSharp;
using static ConceptSuite.Tests.Explain.ExplainFixtures;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Tests.Explain;

public sealed class ExplanationMetricTests
{
    [Fact]
    public void APerfectExplainerScoresDeletionNearZeroInsertionNearOneAndMuFidelityOne()
    {
        using var scope = torch.NewDisposeScope();
        // One concept carries the class score; an exact explainer ranks it first.
        var w = torch.zeros(2, 100, ScalarType.Float64);
        w[0, 17] = 5.0; w[1, 3] = 2.0;
        var head = new LinearConceptHead(w);
        var u = Randn(1, 8, 100).abs() + 0.1;
        long[] targets = [0, 0, 0, 0, 1, 1, 1, 1];
        var phi = new GradientInput().Explain(head, u, targets);
        var r = DeletionInsertion.Compute(head, u, targets, phi);
        Assert.Equal(0.005, r.DeletionArea, 9);
        Assert.Equal(0.995, r.InsertionArea, 9);
        Assert.Equal(1.0, new MuFidelity().Compute(head, u, targets, phi), 9);
        // Reversing the ranking is the worst explainer: deletion 0.995, insertion 0.005.
        var worst = DeletionInsertion.Compute(head, u, targets, -phi);
        Assert.Equal(0.995, worst.DeletionArea, 9);
        Assert.Equal(0.005, worst.InsertionArea, 9);
    }

    [Fact]
    public void MuFidelityOfExactContributionsIsOneAndOfNoiseIsLow()
    {
        using var scope = torch.NewDisposeScope();
        var head = new LinearConceptHead(Randn(2, 3, 20));
        var u = Randn(3, 10, 20);
        long[] targets = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0];
        Assert.Equal(1.0, new MuFidelity().Compute(head, u, targets, new Occlusion().Explain(head, u, targets)), 9);
        // Measured 0.02 for unrelated random attributions.
        Assert.True(Math.Abs(new MuFidelity().Compute(head, u, targets, Randn(4, 10, 20))) < 0.2);
    }

    [Fact]
    public void CompletenessIsTheShareOfAboveChanceAccuracy()
    {
        // Model accuracy 1, concept accuracy 4/6, chance 1/3: (2/3 − 1/3) / (1 − 1/3) = 0.5.
        Assert.Equal(0.5, Completeness.Compute([0, 1, 2, 0, 1, 2], [0, 1, 2, 0, 1, 2], [0, 1, 2, 0, 0, 0]), 12);
        Assert.Equal("model_predictions", Assert.Throws<InvalidInputException>(() => Completeness.Compute([0, 1], [1, 0], [0, 1])).Field);
    }

    [Fact]
    public void SparsityL0AndHoyer()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.tensor(new double[] { 0, 3, 0, 0, 1, 1, 1, 1 }, [2, 4], ScalarType.Float64);
        Assert.Equal(2.5, Sparsity.L0(x));
        // Rows: one-hot → 1, constant → 0.
        Assert.Equal(0.5, Sparsity.Hoyer(x), 12);
        // [1, 1, 0, 0]: (2 − 2/√2) / (2 − 1) = 2 − √2.
        Assert.Equal(2 - Math.Sqrt(2), Sparsity.Hoyer(torch.tensor(new double[] { 1, 1, 0, 0 }, [1, 4], ScalarType.Float64)), 12);
    }

    [Fact]
    public void StabilityOfAPermutedRescaledConceptBankIsOne()
    {
        using var scope = torch.NewDisposeScope();
        var v = Randn(5, 6, 16);
        var perm = new long[] { 4, 0, 5, 1, 3, 2 };
        var r = SeedStability.Compute(v, 2.5 * v.index_select(0, torch.tensor(perm)));
        Assert.Equal(1.0, r.MeanCosine, 12);
        for (int j = 0; j < perm.Length; j++) Assert.Equal(j, r.Partner[perm[j]]);
        Assert.True(SeedStability.Compute(v, Randn(6, 6, 16)).MeanCosine < 0.8);
    }

    [Fact]
    public void ExistenceAndLocationOnHandMadeGroundTruth()
    {
        using var scope = torch.NewDisposeScope();
        // Two samples, three concepts; top-2 by importance: sample 0 → {0, 2}, sample 1 → {1, 0}.
        var phi = torch.tensor(new double[] { 3, 0, 1, 2, 5, 0 }, [2, 3], ScalarType.Float64);
        var labels = torch.tensor(new double[] { 1, 0, 0, 1, 1, 0 }, [2, 3], ScalarType.Float64);
        // Sample 0: 1 of 2 present; sample 1: both present → 0.75.
        Assert.Equal(0.75, ConceptTrust.Existence(phi, labels, 2), 12);
        var maps = torch.zeros(2, 3, 4, 4, ScalarType.Float64);
        var masks = torch.zeros(2, 3, 4, 4, ScalarType.Float64);
        maps[0, 0, 0, 0] = 1; masks[0, 0, 0, 0] = 1;                 // fully inside: 1
        maps[1, 1, 2, 2] = 1; maps[1, 1, 3, 3] = 3; masks[1, 1, 2, 2] = 1; // 1 of 4 inside: 0.25
        maps[1, 0, 1, 1] = 1;                                        // outside: 0
        Assert.Equal((1 + 0.25 + 0) / 3, ConceptTrust.Location(phi, labels, maps, masks, 2), 12);
        Assert.Equal("concept_masks", Assert.Throws<InvalidInputException>(() => ConceptTrust.Location(phi, labels, maps, torch.zeros(2, 3, 4, 5), 2)).Field);
        var gi = ConceptTrust.GlobalImportance(phi, [0, 1], 2);
        Assert.Equal(0.75, gi[0, 0], 12);
        Assert.Equal(5.0 / 7, gi[1, 1], 12);
    }

    [Fact]
    public void ConceptActivationMapsLightUpWhereTheConceptIs()
    {
        using var scope = torch.NewDisposeScope();
        // Channel 1 fires only in the top-left patch of a 2×2 grid; the bank's concept 0 is channel 1.
        var a = torch.zeros(1, 3, 2, 2, ScalarType.Float64);
        a[0, 1, 0, 0] = 4;
        var bank = torch.tensor(new double[] { 0, 1, 0, 1, 0, 0 }, [2, 3], ScalarType.Float64);
        var maps = ConceptActivationMaps.Compute(a, bank, [], 8, 8);
        Assert.Equal(new long[] { 1, 2, 8, 8 }, maps.shape);
        Assert.Equal(1.0, maps[0, 0].max().item<double>(), 12);
        // Bilinear, half-pixel centres: the patch's own corner is full, the far corner untouched.
        Assert.Equal(1.0, maps[0, 0, 0, 0].item<double>(), 12);
        Assert.Equal(0.0, maps[0, 0, TensorIndex.Slice(6, 8), TensorIndex.Slice(6, 8)].abs().max().item<double>());
        Assert.True(maps[0, 0, TensorIndex.Slice(0, 4), TensorIndex.Slice(0, 4)].sum().item<double>() > 0.5 * maps[0, 0].sum().item<double>());
        Assert.Equal(0.0, maps[0, 1].abs().max().item<double>());
        Assert.Equal("dictionary", Assert.Throws<InvalidInputException>(() => ConceptActivationMaps.Compute(a, torch.zeros(2, 4), [], 8, 8)).Field);
        Assert.Equal("concepts", Assert.Throws<InvalidInputException>(() => ConceptActivationMaps.Compute(a, bank, [2], 8, 8)).Field);
    }

    [Theory]
    [InlineData("dense")]
    [InlineData("sparse")]
    public void TenIndependentConstraintsOnAThousandParametersHaveIntrinsicDimensionTen(string projection)
    {
        var problem = new LinearConstraintsProblem(1000, 10);
        var r = new SubspaceTraining(projection, seed: 1).Sweep(problem, [5, 9, 10, 12]);
        Assert.Equal(1000, r.Parameters);
        Assert.Equal(1.0, r.FullPerformance);
        Assert.Equal(10, r.IntrinsicDimension);
        Assert.True(r.Performance[1] < 0.9, $"d = 9 met {r.Performance[1]:P0} of the constraints");
        Assert.Equal(1.0, r.Performance[2]);
    }

    [Fact]
    public void AClassifierTrainedInARandomSubspaceReachesNinetyPercentBelowItsFullDimension()
    {
        using var scope = torch.NewDisposeScope();
        // Four Gaussian blobs in 10-d: softmax regression has D = 10·4 + 4 = 44 parameters.
        var centers = 3 * Randn(50, 4, 10);
        var labels = Enumerable.Range(0, 400).Select(i => (long)(i % 4)).ToArray();
        var x = centers.index_select(0, torch.tensor(labels)) + Randn(51, 400, 10);
        var problem = new ClassifierProblem(x, labels, seed: 2);
        var r = new SubspaceTraining("dense", steps: 300, learningRate: 0.1, seed: 3).Sweep(problem, [1, 2, 4, 8, 16, 44]);
        Assert.Equal(44, r.Parameters);
        Assert.True(r.FullPerformance > 0.9, $"full accuracy {r.FullPerformance}");
        Assert.NotNull(r.IntrinsicDimension);
        Assert.True(r.IntrinsicDimension < 44, $"d_int90 = {r.IntrinsicDimension}");
        Assert.True(r.Performance[0] < r.Performance[^1], string.Join(", ", r.Performance));
    }
}
