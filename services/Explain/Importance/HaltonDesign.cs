using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Importance;

/// <summary>
/// The Halton sequence (Halton 1960): coordinate j of point i is the radical inverse of i in the
/// j-th prime base, a low-discrepancy (quasi-Monte-Carlo) design; a seeded Cranley–Patterson
/// rotation (u + s mod 1) makes independent repeats. Points start at index 1 (index 0 is the origin).
/// </summary>
public sealed class HaltonDesign : IMaskDesign
{
    public string Name => "halton";

    public Tensor Sample(int n, int d, long seed)
    {
        var primes = Primes(d);
        var rng = new Random((int)(seed & 0x7fffffff));
        var shift = Enumerable.Range(0, d).Select(_ => seed == 0 ? 0.0 : rng.NextDouble()).ToArray();
        var x = new double[n * d];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++)
            {
                var v = RadicalInverse(i + 1, primes[j]) + shift[j];
                x[i * d + j] = v - Math.Floor(v);
            }
        return torch.tensor(x, [n, d], ScalarType.Float64);
    }

    /// <summary>Φ_b(i) = Σ_k d_k b^{−k−1} for i = Σ_k d_k b^k.</summary>
    public static double RadicalInverse(long i, int b)
    {
        double f = 1.0 / b, r = 0;
        while (i > 0) { r += f * (i % b); i /= b; f /= b; }
        return r;
    }

    static int[] Primes(int count)
    {
        var p = new List<int>();
        for (int c = 2; p.Count < count; c++) if (p.All(q => c % q != 0)) p.Add(c);
        return p.ToArray();
    }
}
