using ConceptSuite.Tests.Bottleneck;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Tests.Discovery;

/// <summary>Deterministic inputs for the discovery tests.</summary>
static class DiscoveryTestData
{
    /// <summary>
    /// The fixed 200×30 matrix of the sklearn fixture (same formula as the Python command in
    /// <see cref="SklearnAgreementTests"/>): five smooth non-negative rank-one parts plus a small
    /// deterministic ripple, computed in float64, stored as float32.
    /// </summary>
    public static Tensor FixtureMatrix()
    {
        const int n = 200, d = 30, r = 5;
        var x = new float[n * d];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++)
            {
                double v = 0;
                for (int q = 0; q < r; q++)
                    v += ((1 + Math.Sin(0.7 * i + 1.9 * q)) / 2) * ((1 + Math.Cos(0.3 * j + 2.1 * q)) / 2);
                v += 0.05 * (1 + Math.Sin(0.013 * i * j + 0.5 * i + 0.2 * j));
                x[i * d + j] = (float)v;
            }
        return tensor(x).reshape(n, d);
    }

    /// <summary>x = z·D with D [c, d] unit-norm random atoms and z k-sparse, non-negative codes.</summary>
    public static (Tensor X, Tensor Atoms) PlantedSparse(int n, int d, int c, int k, long seed, float noise = 0)
    {
        using var g = new Generator((ulong)seed);
        var atoms = randn([c, d], generator: g);
        atoms = atoms / atoms.norm(1, keepdim: true);
        var scores = rand([n, c], generator: g);
        var (_, idx) = scores.topk(k, dim: 1);
        var vals = rand([n, k], generator: g) + 0.5f;
        var z = zeros(n, c).scatter(1, idx, vals);
        var x = z.matmul(atoms);
        if (noise > 0) x = x + noise * randn([n, d], generator: g);
        return (x, atoms);
    }

    /// <summary>Well-separated Gaussian blobs.</summary>
    public static Tensor Blobs(int n, int d, int centers, long seed, float spread = 0.1f)
    {
        using var g = new Generator((ulong)seed);
        var c = randn([centers, d], generator: g) * 5;
        var labels = randint(0, centers, [n], generator: g);
        return c.index_select(0, labels) + spread * randn([n, d], generator: g);
    }

    /// <summary>
    /// ResNet18 "pool" activations [500, 512] of the first 500 Fashion-MNIST train and test images
    /// (<see cref="BackboneFeatures.FashionMnistAsync"/>: embedded once through the embedding stage, then cached).
    /// </summary>
    public static async Task<(Tensor Train, Tensor Test)> ResNet18FashionMnistAsync() =>
        ((await BackboneFeatures.FashionMnistAsync("train", 500)).X, (await BackboneFeatures.FashionMnistAsync("test", 500)).X);
}
