using ConceptSuite.Discovery.Abstractions;
using ConceptSuite.Discovery.Methods;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Tests.Discovery;

/// <summary>
/// Agreement with scikit-learn 1.x (Debian python3-sklearn) on the fixed matrix of
/// <see cref="DiscoveryTestData.FixtureMatrix"/>. Fixture made by:
/// <code>
/// Fixtures/sklearn_fixture.sh (Fixtures/make_fixture_matrix.py writes the matrix:
/// X = Σ_q ((1+sin(0.7i+1.9q))/2)·((1+cos(0.3j+2.1q))/2) + 0.05(1+sin(0.013ij+0.5i+0.2j)), i &lt; 200, j &lt; 30, float32), which runs
/// for m in nmf pca kmeans ica; do /usr/bin/python3 /work/shared/peers/sklearn_fit.py --method $m --input fix.npy --components 5 --iters 200 --seed 0; done
/// </code>
/// which printed: nmf frobenius_error 2.6004103293752774; pca 2.3668251434300496
/// (explained_variance 0.9955376982688904); kmeans inertia 146.57809448242188; ica 2.3668251184806866.
/// Each test asserts this suite's error is within 1% of sklearn's or better.
/// </summary>
public class SklearnAgreementTests
{
    const double SklearnNmf = 2.6004103293752774;
    const double SklearnPca = 2.3668251434300496;
    const double SklearnKMeansInertia = 146.57809448242188;
    const double SklearnIca = 2.3668251184806866;

    static double Frobenius(IConceptDictionary d, Tensor x)
    {
        using var z = d.Encode(x);
        using var xh = d.Decode(z);
        return Math.Sqrt((x.to_type(ScalarType.Float64) - xh.to_type(ScalarType.Float64)).square().sum().item<double>());
    }

    [Fact]
    public void NmfErrorWithinOnePercentOfSklearn()
    {
        using var x = DiscoveryTestData.FixtureMatrix();
        using var nmf = DictionaryMethods.Create("nmf", 5, new Dictionary<string, string> { ["max_iter"] = "400" });
        nmf.Fit(new TensorRowSource(x), FitContext.Default());
        double e = Frobenius(nmf, x);
        Assert.True(e <= SklearnNmf * 1.01, $"NMF error {e} vs sklearn {SklearnNmf}");
    }

    [Fact]
    public void PcaErrorMatchesSklearn()
    {
        using var x = DiscoveryTestData.FixtureMatrix();
        using var pca = DictionaryMethods.Create("pca", 5, null);
        pca.Fit(new TensorRowSource(x), FitContext.Default());
        double e = Frobenius(pca, x);
        Assert.True(Math.Abs(e - SklearnPca) <= SklearnPca * 0.001, $"PCA error {e} vs sklearn {SklearnPca}");
    }

    [Fact]
    public void KMeansInertiaWithinOnePercentOfSklearn()
    {
        using var x = DiscoveryTestData.FixtureMatrix();
        using var km = (KMeans)DictionaryMethods.Create("kmeans", 5, null);
        km.Fit(new TensorRowSource(x), FitContext.Default());
        Assert.True(km.Inertia <= SklearnKMeansInertia * 1.01, $"inertia {km.Inertia} vs sklearn {SklearnKMeansInertia}");
    }

    [Fact]
    public void FastIcaErrorWithinOnePercentOfSklearn()
    {
        using var x = DiscoveryTestData.FixtureMatrix();
        using var ica = DictionaryMethods.Create("fastica", 5, null);
        ica.Fit(new TensorRowSource(x), FitContext.Default());
        double e = Frobenius(ica, x);
        Assert.True(e <= SklearnIca * 1.01, $"ICA error {e} vs sklearn {SklearnIca}");
    }
}
