using ConceptSuite.Generate.Editing;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Tests.Generate;

/// <summary>The closed form W' = (λW + Σ v*c_iᵀ + Σ W c_j c_jᵀ)(λI + Σ c_i c_iᵀ + Σ c_j c_jᵀ)⁻¹ on small exact cases.</summary>
public class ClosedFormEditTests
{
    static Tensor Rand(long[] shape, ulong seed)
    {
        using var g = new Generator(seed);
        return randn(shape, dtype: ScalarType.Float64, generator: g);
    }

    [Fact]
    public void NoErasedKeysAndNoPreserveSetLeavesTheWeightsUnchanged()
    {
        var w = Rand([6, 4], 1);
        var updated = ClosedFormEdit.Solve(w, zeros(0, 4, dtype: ScalarType.Float64), zeros(0, 6, dtype: ScalarType.Float64), zeros(0, 4, dtype: ScalarType.Float64), 0.1);
        Assert.True((updated - w).abs().max().item<double>() < 1e-12);
    }

    [Fact]
    public void AsLambdaGoesToZeroIndependentErasedKeysMapExactlyToTheirTargets()
    {
        var w = Rand([6, 5], 2);
        var keys = Rand([2, 5], 3);      // two independent keys in R^5
        var targets = Rand([2, 6], 4);
        var updated = ClosedFormEdit.Solve(w, keys, targets, zeros(0, 5, dtype: ScalarType.Float64), 1e-9);
        var err = (keys.matmul(updated.t()) - targets).abs().max().item<double>();
        Assert.True(err < 1e-5, $"max |W'c_i − v*_i| = {err}");
    }

    [Fact]
    public void PreservedKeysKeepTheirOutputsWhileErasedKeysMove()
    {
        var w = Rand([8, 6], 5);
        var erase = Rand([1, 6], 6);
        var targets = Rand([1, 8], 7);
        var preserve = Rand([3, 6], 8);   // erase + preserve keys: 4 independent keys in R^6
        var updated = ClosedFormEdit.Solve(w, erase, targets, preserve, 1e-4);
        var drift = (preserve.matmul(updated.t()) - preserve.matmul(w.t())).abs().max().item<double>();
        var hit = (erase.matmul(updated.t()) - targets).abs().max().item<double>();
        // Measured: drift ≈ 1e-5 and hit ≈ 1e-5 at λ = 1e-4; tolerance 1e-3 for both.
        Assert.True(drift < 1e-3, $"preserve drift {drift}");
        Assert.True(hit < 1e-3, $"erase miss {hit}");
    }

    [Fact]
    public void SolveAgreesWithTheExplicitInverse()
    {
        var w = Rand([5, 4], 9);
        var ce = Rand([2, 4], 10); var v = Rand([2, 5], 11); var cp = Rand([1, 4], 12);
        double lambda = 0.5, se = 2.0, sp = 0.7;
        var m = lambda * w + se * v.t().matmul(ce) + sp * w.matmul(cp.t()).matmul(cp);
        var a = lambda * eye(4, dtype: ScalarType.Float64) + se * ce.t().matmul(ce) + sp * cp.t().matmul(cp);
        var expected = m.matmul(linalg.inv(a));
        var updated = ClosedFormEdit.Solve(w, ce, v, cp, lambda, se, sp);
        Assert.True((updated - expected).abs().max().item<double>() < 1e-10);
    }

    [Fact]
    public void NonPositiveLambdaIsRejected()
    {
        var ex = Assert.Throws<ConceptSuite.Contracts.InvalidInputException>(() =>
            ClosedFormEdit.Solve(eye(2), zeros(0, 2), zeros(0, 2), zeros(0, 2), 0));
        Assert.Equal("lambda", ex.Field);
    }
}
