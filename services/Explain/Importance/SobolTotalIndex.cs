using ConceptSuite.Core.Limits;
using ConceptSuite.Core.Methods;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Importance;

/// <summary>
/// Total Sobol indices of concept masks (Fel et al. 2021, "Look at the Variance! Efficient
/// Black-box Explanations with Sobol-based Sensitivity Analysis"; applied to concepts in CRAFT and
/// the holistic paper, Fel et al. 2023). The perturbed model is f(M) = h(U ⊙ M)_c with masks
/// M ∈ [0, 1]^K. From two design matrices A, B [n, K] (the two halves of one 2K-dimensional design)
/// and C⁽ⁱ⁾ = A with column i taken from B, Jansen's estimator (Jansen 1999) gives
/// S_Ti = (1/2n) Σ_j (f(A_j) − f(C⁽ⁱ⁾_j))² / V̂ar[f], V̂ar over f(A) ∪ f(B).
/// Averaged over <see cref="Repeats"/> independent designs; costs (K + 2)·n·repeats head calls per sample.
/// For a linear head the target score is f(M) = M·(u ⊙ W_t) + b_t, so one GEMM of the design
/// against the samples' weighted coefficients gives every sample's scores (the bias cancels in
/// Jansen's differences and the variance) without materialising the perturbed coefficients.
/// </summary>
public sealed class SobolTotalIndex : IConceptImportance
{
    public SobolTotalIndex(int designSize = 64, int repeats = 1, IMaskDesign? design = null, long seed = 0)
    {
        DesignSize = designSize >= 4 ? designSize : throw new Contracts.InvalidInputException("design_size", $"must be at least 4, got {designSize}");
        Repeats = repeats >= 1 ? repeats : throw new Contracts.InvalidInputException("repeats", $"must be at least 1, got {repeats}");
        Design = design ?? new SobolSequenceDesign();
        Seed = seed;
    }

    public SobolTotalIndex(SobolOptions options) : this(options.DesignSize, options.Repeats, MaskDesigns.Create(options.Design), options.Seed)
    {
        CallBytes = options.CallBytes;
    }

    /// <summary>The per-call budget the design is checked against (0: none).</summary>
    public long CallBytes { get; init; }

    public int DesignSize { get; }
    public int Repeats { get; }
    public IMaskDesign Design { get; }
    public long Seed { get; }

    public Tensor Explain(IConceptHead head, Tensor coefficients, long[] targets)
    {
        using var scope = torch.NewDisposeScope();
        var u = ImportanceEstimators.Check(head, coefficients, targets);
        long n = u.shape[0], k = u.shape[1];
        // The stacked design [(K + 2)·n, K] in float64, and about 16 M values of scores per chunk.
        RequestBudget.Within(CallBytes, "importance.options.design_size", RequestBudget.Product(k + 2, DesignSize, k, 8) + (128L << 20));
        var result = torch.zeros([n, k], ScalarType.Float64);
        var targetIndex = torch.tensor(targets);
        using (torch.inference_mode())
        {
            for (int r = 0; r < Repeats; r++)
            {
                var masks = Masks(DesignSize, (int)k, Seed + r);
                long rows = masks.shape[0];
                var linear = Linear(head);
                // Samples in chunks so a chunk's perturbed coefficients (or scores) stay near 16 M values.
                long chunk = Math.Max(1, (16L << 20) / Math.Max(1, rows * (linear is null ? Math.Max(k, head.Classes) : 1)));
                for (long s = 0; s < n; s += chunk)
                {
                    using var inner = torch.NewDisposeScope();
                    long c = Math.Min(chunk, n - s);
                    if (linear is not null)
                    {
                        var weighted = u.narrow(0, s, c) * linear.Weight.index_select(0, targetIndex.narrow(0, s, c));   // [c, K]
                        result.narrow(0, s, c).add_(Jansen(weighted.matmul(masks.t()), DesignSize, (int)k));           // scores [c, (K + 2)·n]
                        continue;
                    }
                    var perturbed = (u.narrow(0, s, c).unsqueeze(1) * masks.unsqueeze(0)).reshape(c * rows, k);
                    var logits = head.Forward(perturbed).reshape(c, rows, head.Classes);
                    var idx = targetIndex.narrow(0, s, c).view(c, 1, 1).expand(c, rows, 1);
                    var f = logits.gather(2, idx).squeeze(2);
                    result.narrow(0, s, c).add_(Jansen(f, DesignSize, (int)k));
                }
            }
        }
        return (result / Repeats).MoveToOuterDisposeScope();
    }

    static LinearConceptHead? Linear(IConceptHead head) => head switch
    {
        LinearConceptHead l => l,
        DictionaryLinearHead d => d.Composed,
        _ => null,
    };

    /// <summary>The stacked design [A; B; C⁽⁰⁾; …; C⁽ᴷ⁻¹⁾], [(K + 2)·n, K].</summary>
    public Tensor Masks(int n, int k, long seed)
    {
        var ab = Design.Sample(n, 2 * k, seed);
        var a = ab.narrow(1, 0, k);
        var b = ab.narrow(1, k, k);
        var parts = new List<Tensor> { a, b };
        for (int i = 0; i < k; i++)
        {
            var c = a.clone();
            c[.., i] = b[.., i];
            parts.Add(c);
        }
        return torch.cat(parts, 0);
    }

    /// <summary>Jansen's total-index estimator from stacked outputs f [S, (K + 2)·n] (or one row [(K + 2)·n]), giving [S, K] (or [K]).</summary>
    public static Tensor Jansen(Tensor f, int n, int k)
    {
        bool single = f.dim() == 1;
        if (single) f = f.unsqueeze(0);
        var fa = f.narrow(1, 0, n);
        var fb = f.narrow(1, n, n);
        var variance = torch.cat([fa, fb], 1).var([1], unbiased: false, keepdim: true);
        var fc = f.narrow(1, 2 * n, (long)k * n).reshape(f.shape[0], k, n);
        var num = (fa.unsqueeze(1) - fc).square().mean([2]) / 2;
        var st = torch.where(variance > 0, num / variance.clamp_min(1e-300), torch.zeros_like(num));
        return single ? st.squeeze(0) : st;
    }
}

/// <summary>Options of <see cref="SobolTotalIndex"/>; the seed is the request's.</summary>
public sealed record SobolOptions(int DesignSize, int Repeats, string Design, long Seed, long CallBytes = 0)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Int("design_size", 64, "rows of the sampling design per repeat", 4, 1 << 20),
        OptionSpec.Int("repeats", 1, "independent designs averaged", 1, 1024),
        OptionSpec.Choice("design", "sobol", "the design: Sobol' sequence, Halton sequence, Latin hypercube or plain random", "sobol", "halton", "latin_hypercube", "random"),
    ];

    public static SobolOptions From(OptionValues o) => new(o.Int("design_size"), o.Int("repeats"), o.Choice("design"), RequestSeed.Of(o), RequestBudget.CallBytesOf(o));
}
