using ConceptSuite.Core.Methods;
using ConceptSuite.Explain.Importance;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Metrics;

/// <summary>
/// MuFidelity (Bhatt, Weller and Moura 2020, "Evaluating and Aggregating Feature-based Model
/// Explanations"), on concepts: over random subsets S of ⌈subset_fraction·K⌉ concepts,
/// μF = corr_S( Σ_{i∈S} φᵢ , h(u)_c − h(u with u_S = 0)_c ), Pearson correlation, averaged over
/// samples. An exact additive explainer of a linear head scores 1.
/// </summary>
public sealed class MuFidelity(int subsets = 128, double subsetFraction = 0.2, long seed = 0)
{
    public int Subsets { get; } = subsets >= 3 ? subsets : throw new Contracts.InvalidInputException("subsets", $"must be at least 3, got {subsets}");
    public double SubsetFraction { get; } = subsetFraction > 0 && subsetFraction < 1 ? subsetFraction : throw new Contracts.InvalidInputException("subset_fraction", "must be in (0, 1)");

    public double Compute(IConceptHead head, Tensor coefficients, long[] targets, Tensor importance)
    {
        using var scope = torch.NewDisposeScope();
        var u = ImportanceEstimators.Check(head, coefficients, targets);
        var phi = ExplainTensors.Matrix(importance, "importance");
        if (!phi.shape.SequenceEqual(u.shape)) throw new Contracts.InvalidInputException("importance", "shape differs from the coefficients'");
        long n = u.shape[0], k = u.shape[1];
        if (k < 2) throw new Contracts.InvalidInputException("coefficients", "MuFidelity needs at least 2 concepts");
        int size = (int)Math.Clamp(Math.Ceiling(SubsetFraction * k), 1, k - 1);
        var g = new torch.Generator((ulong)seed);
        var masks = torch.zeros([Subsets, k], ScalarType.Float64);
        for (int j = 0; j < Subsets; j++) masks[j].index_fill_(0, torch.randperm(k, generator: g).narrow(0, 0, size), 1.0);
        double total = 0;
        int used = 0;
        using (torch.inference_mode())
        {
            for (long s = 0; s < n; s++)
            {
                var row = u[s].unsqueeze(0);
                var full = ImportanceEstimators.TargetLogit(head, row, targets[s]);
                var drop = full - ImportanceEstimators.TargetLogit(head, row * (1 - masks), targets[s]);
                var attr = masks.matmul(phi[s]);
                var r = Pearson(attr, drop);
                if (double.IsFinite(r)) { total += r; used++; }
            }
        }
        return used > 0 ? total / used : 0.0;
    }

    static double Pearson(Tensor a, Tensor b)
    {
        var ac = a - a.mean();
        var bc = b - b.mean();
        var den = Math.Sqrt(ac.square().sum().item<double>() * bc.square().sum().item<double>());
        return den > 0 ? (ac * bc).sum().item<double>() / den : double.NaN;
    }
}

/// <summary>Options of <see cref="MuFidelity"/> (config fields subsets and subset_fraction); the seed is the request's.</summary>
public sealed record MuFidelityOptions(int Subsets, double SubsetFraction) : MetricOptions
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Int("subsets", 128, "random concept subsets per sample", 3, 1 << 20),
        OptionSpec.Float("subset_fraction", 0.2, "fraction of the concepts in each subset, in (0, 1)", 0, 1),
    ];

    public static MetricOptions From(OptionValues o) => new MuFidelityOptions(o.Int("subsets"), o.Float("subset_fraction"));
}
