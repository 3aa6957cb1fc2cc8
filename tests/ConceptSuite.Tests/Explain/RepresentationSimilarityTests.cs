using ConceptSuite.Contracts;
using ConceptSuite.Explain.Representations;
using TorchSharp;
using static ConceptSuite.Tests.Explain.ExplainFixtures;

namespace ConceptSuite.Tests.Explain;

public sealed class RepresentationSimilarityTests
{
    static readonly string[] CkaNames = ["linear_cka", "rbf_cka", "debiased_cka", "minibatch_cka"];

    [Fact]
    public void EveryIndexOfARepresentationWithItselfIsOne()
    {
        using var scope = torch.NewDisposeScope();
        var x = Randn(1, 60, 8);
        foreach (var name in RepresentationSimilarities.Family.Names)
            Assert.Equal(1.0, RepresentationSimilarities.Family.Create(name, null, "similarity").Score(x, x), 9);
    }

    [Fact]
    public void CkaIsInvariantToOrthogonalTransformsAndIsotropicScaling()
    {
        using var scope = torch.NewDisposeScope();
        var x = Randn(2, 50, 6);
        var y = torch.tanh(x.matmul(Randn(3, 6, 5))) + 0.5 * Randn(4, 50, 5);
        var (q, _) = torch.linalg.qr(Randn(5, 6, 6));
        var xt = 3.7 * x.matmul(q);
        foreach (var name in CkaNames)
        {
            var m = RepresentationSimilarities.Family.Create(name, name == "minibatch_cka" ? new Dictionary<string, string> { ["batch_size"] = "50" } : null, "similarity");
            Assert.Equal(m.Score(x, y), m.Score(xt, y), 9);
            Assert.Equal(m.Score(x, y), m.Score(x, 0.01 * y), 9);
        }
    }

    [Fact]
    public void CkaIsNotInvariantToGeneralLinearMaps()
    {
        using var scope = torch.NewDisposeScope();
        var x = Randn(6, 50, 6);
        var y = x.narrow(1, 3, 3) + 0.1 * Randn(7, 50, 3);
        // An invertible map that stretches an axis y does not depend on 100x.
        var m = torch.diag(torch.tensor(new double[] { 100, 1, 1, 1, 1, 1 }));
        foreach (var name in new[] { "linear_cka", "debiased_cka", "rbf_cka" })
        {
            var s = RepresentationSimilarities.Family.Create(name, null, "similarity");
            double before = s.Score(x, y), after = s.Score(x.matmul(m), y);
            Assert.True(Math.Abs(before - after) > 0.2, $"{name}: {before:F4} vs {after:F4}");
        }
        // CCA is invariant to invertible linear maps: that is its definition.
        Assert.Equal(new Svcca(1.0).Score(x, y), new Svcca(1.0).Score(x.matmul(m), y), 6);
    }

    [Fact]
    public void IndicesAgreeWithTheNumpyReferenceWithin1e5()
    {
        using var scope = torch.NewDisposeScope();
        var f = Load("representations.json");
        var a = Matrix(f.GetProperty("a"));
        var b = Matrix(f.GetProperty("b"));
        Assert.Equal(f.GetProperty("linear_cka").GetDouble(), new LinearCka().Score(a, b), 5);
        Assert.Equal(f.GetProperty("rbf_cka_0.5").GetDouble(), new RbfCka(0.5).Score(a, b), 5);
        Assert.Equal(f.GetProperty("rbf_cka_1.0").GetDouble(), new RbfCka(1.0).Score(a, b), 5);
        Assert.Equal(f.GetProperty("debiased_cka").GetDouble(), new DebiasedCka().Score(a, b), 5);
        Assert.Equal(f.GetProperty("svcca_0.99").GetDouble(), new Svcca(0.99).Score(a, b), 5);
        Assert.Equal(f.GetProperty("pwcca").GetDouble(), new Pwcca().Score(a, b), 5);
        // One batch holding every row is exactly the debiased estimator.
        Assert.Equal(f.GetProperty("debiased_cka").GetDouble(), new MinibatchCka(64).Score(a, b), 5);
    }

    [Fact]
    public void MinibatchCkaNeverYieldsNaN()
    {
        using var scope = torch.NewDisposeScope();
        var x = Randn(9, 103, 4);
        var noise = Randn(10, 103, 4);
        // Batches of 4 on unrelated data: the unbiased self-terms are noisy, the result stays finite.
        var r = new MinibatchCka(4, seed: 3).Score(x, noise);
        Assert.True(double.IsFinite(r) && r >= -1 && r <= 1, r.ToString());
        Assert.Equal(0.0, new MinibatchCka(8).Score(torch.ones(40, 3, torch.ScalarType.Float64), x.narrow(0, 0, 40)));
        Assert.Equal(0.0, new MinibatchCka(8).Score(x.narrow(0, 0, 40), torch.zeros(40, 2, torch.ScalarType.Float64)));
        // Large N in minibatches agrees with the full debiased estimate (measured gap 0.004).
        var big = Randn(11, 2000, 16);
        var other = big.narrow(1, 0, 8) + Randn(12, 2000, 8);
        Assert.Equal(new DebiasedCka().Score(big, other), new MinibatchCka(256).Score(big, other), 1);
    }

    [Fact]
    public void MinibatchesMergeAShortTail()
    {
        Assert.Equal(new[] { (0L, 4L), (4L, 6L) }, MinibatchCka.Batches(10, 4).ToArray());
        Assert.Equal(new[] { (0L, 5L) }, MinibatchCka.Batches(5, 4).ToArray());
        Assert.Equal(new[] { (0L, 4L), (4L, 4L) }, MinibatchCka.Batches(8, 4).ToArray());
    }

    [Fact]
    public void RowCountMismatchNamesTheSecondSide()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<InvalidInputException>(() => new LinearCka().Score(Randn(1, 10, 3), Randn(2, 9, 3)));
        Assert.Equal("b", e.Field);
    }

    [Fact]
    public void TooFewSamplesForTheUnbiasedEstimatorNamesTheField()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<InvalidInputException>(() => new DebiasedCka().Score(Randn(1, 3, 3), Randn(2, 3, 3)));
        Assert.Equal("a", e.Field);
        Assert.Throws<InvalidInputException>(() => new MinibatchCka(3));
        Assert.Throws<InvalidInputException>(() => RepresentationSimilarities.Family.Create("cosine", null, "similarity"));
    }
}
