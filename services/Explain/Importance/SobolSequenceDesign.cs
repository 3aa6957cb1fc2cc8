using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Importance;

/// <summary>
/// The Sobol' low-discrepancy sequence (Sobol' 1967; generation by Gray code, Antonov and Saleev
/// 1979), a base-2 digital (t, s)-sequence: the first 2^m points of every coordinate fill the 2^m
/// dyadic intervals of [0, 1) exactly once. Coordinate 0 is the van der Corput sequence; coordinate
/// j ≥ 1 takes the j-th primitive polynomial over GF(2) (by degree, then value)
/// p = x^s + a₁x^{s−1} + … + a_{s−1}x + 1 and direction numbers vₖ = mₖ / 2ᵏ with
/// mₖ = 2a₁mₖ₋₁ ⊕ 4a₂mₖ₋₂ ⊕ … ⊕ 2^{s−1}a_{s−1}mₖ₋ₛ₊₁ ⊕ 2ˢmₖ₋ₛ ⊕ mₖ₋ₛ. The initial m₁ … mₛ are odd
/// with mₖ &lt; 2ᵏ (any such choice gives a valid Sobol' sequence); here they are drawn once from a
/// fixed-seed generator. Point i is x_i = x_{i−1} ⊕ v_{c(i−1)}, c(i) the lowest zero bit of i, from
/// x₀ = 0 (the origin is kept: it belongs to the first net). A non-zero seed applies a random
/// digital shift (each coordinate's bits XOR-ed with a seeded word), which keeps the net property
/// and makes independent repeats. 32-bit precision: at most 2³² points.
/// </summary>
public sealed class SobolSequenceDesign : IMaskDesign
{
    const int Bits = 32;
    static readonly object Gate = new();
    static readonly List<uint[]> Directions = [];

    public string Name => "sobol";

    public Tensor Sample(int n, int d, long seed)
    {
        if (n < 1 || d < 1) throw new Contracts.InvalidInputException("design", $"needs n ≥ 1 points and d ≥ 1 dimensions, got {n} × {d}");
        var v = DirectionNumbers(d);
        var rng = new Random((int)(seed & 0x7fffffff));
        var shift = new uint[d];
        if (seed != 0) for (int j = 0; j < d; j++) shift[j] = (uint)rng.NextInt64(0, 1L << Bits);
        var x = new double[(long)n * d];
        var state = new uint[d];
        const double scale = 1.0 / (1L << Bits);
        for (int i = 0; i < n; i++)
        {
            if (i > 0)
            {
                int c = System.Numerics.BitOperations.TrailingZeroCount(~(uint)(i - 1));
                for (int j = 0; j < d; j++) state[j] ^= v[j][c];
            }
            for (int j = 0; j < d; j++) x[(long)i * d + j] = (state[j] ^ shift[j]) * scale;
        }
        return torch.tensor(x, [n, d], ScalarType.Float64);
    }

    /// <summary>The direction numbers vₖ·2³² (k = 1 … 32) of the first <paramref name="d"/> coordinates.</summary>
    public static IReadOnlyList<uint[]> DirectionNumbers(int d)
    {
        lock (Gate)
        {
            if (Directions.Count == 0) Directions.Add(Enumerable.Range(1, Bits).Select(k => 1u << (Bits - k)).ToArray());
            if (Directions.Count < d)
            {
                var rng = new Random(20261127);
                // Replay the initial-number draws of the coordinates already built so the sequence never depends on call order.
                int built = 1;
                foreach (var poly in PrimitivePolynomials())
                {
                    if (built >= d) break;
                    int s = Degree(poly);
                    var m = new ulong[Bits + 1];
                    for (int k = 1; k <= s; k++) m[k] = 2 * (ulong)rng.NextInt64(0, 1L << (k - 1)) + 1;   // odd, < 2^k
                    if (built++ < Directions.Count) continue;
                    for (int k = s + 1; k <= Bits; k++)
                    {
                        ulong next = m[k - s] ^ (m[k - s] << s);
                        for (int a = 1; a < s; a++)
                            if (((poly >> (s - a)) & 1) != 0) next ^= m[k - a] << a;
                        m[k] = next;
                    }
                    Directions.Add(Enumerable.Range(1, Bits).Select(k => (uint)(m[k] << (Bits - k))).ToArray());
                }
            }
            return Directions.Take(d).ToList();
        }
    }

    /// <summary>Primitive polynomials over GF(2) of degree ≥ 1 as bit masks (bit i = coefficient of xⁱ), by degree then value.</summary>
    public static IEnumerable<long> PrimitivePolynomials()
    {
        for (int s = 1; s < 31; s++)
            for (long p = (1L << s) | 1; p < 1L << (s + 1); p += 2)
                if (IsPrimitive(p, s)) yield return p;
    }

    static int Degree(long p) => 63 - System.Numerics.BitOperations.LeadingZeroCount((ulong)p);

    /// <summary>p of degree s is primitive iff x has order 2ˢ − 1 modulo p.</summary>
    static bool IsPrimitive(long p, int s)
    {
        long order = (1L << s) - 1;
        if (PowX(order, p, s) != 1) return false;
        foreach (var q in PrimeFactors(order))
            if (PowX(order / q, p, s) == 1) return false;
        return true;
    }

    /// <summary>xᵉ mod p in GF(2)[x] (square-and-multiply on bit masks).</summary>
    static long PowX(long e, long p, int s)
    {
        long result = 1, b = s == 1 ? MulMod(1, 2, p, s) : 2;
        while (e > 0)
        {
            if ((e & 1) != 0) result = MulMod(result, b, p, s);
            b = MulMod(b, b, p, s);
            e >>= 1;
        }
        return result;
    }

    static long MulMod(long a, long b, long p, int s)
    {
        long r = 0;
        while (b != 0)
        {
            if ((b & 1) != 0) r ^= a;
            b >>= 1;
            a <<= 1;
            if (((a >> s) & 1) != 0) a ^= p;
        }
        return r;
    }

    static IEnumerable<long> PrimeFactors(long n)
    {
        for (long f = 2; f * f <= n; f++)
        {
            if (n % f != 0) continue;
            yield return f;
            while (n % f == 0) n /= f;
        }
        if (n > 1) yield return n;
    }
}
