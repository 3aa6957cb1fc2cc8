using ConceptSuite.Explain.Importance;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Metrics;

/// <summary>
/// Concept deletion and insertion (C-Deletion / C-Insertion of Fel et al. 2023, after Petsiuk et
/// al. 2018's pixel curves). Concepts are ranked by decreasing importance; deletion sets the top-t
/// coefficients to 0 (t = 0…K), insertion starts from all-zero and restores them. Each sample's
/// curve is normalised, s(t) = (h(u_t)_c − h(0)_c) / (h(u)_c − h(0)_c), so 1 is the full score and
/// 0 the baseline; the area is the trapezoid rule over t/K ∈ [0, 1]. Low deletion and high
/// insertion areas mean a faithful ranking. Samples with h(u)_c = h(0)_c carry no signal and are skipped.
/// </summary>
public static class DeletionInsertion
{
    /// <summary>Mean normalised curves [K + 1] and their areas; Samples = samples used.</summary>
    public sealed record Result(double[] DeletionCurve, double[] InsertionCurve, double DeletionArea, double InsertionArea, int Samples);

    public static Result Compute(IConceptHead head, Tensor coefficients, long[] targets, Tensor importance)
    {
        using var scope = torch.NewDisposeScope();
        var u = ImportanceEstimators.Check(head, coefficients, targets);
        var phi = ExplainTensors.Matrix(importance, "importance");
        if (!phi.shape.SequenceEqual(u.shape)) throw new Contracts.InvalidInputException("importance", $"shape [{string.Join(", ", phi.shape)}] differs from the coefficients' [{string.Join(", ", u.shape)}]");
        long n = u.shape[0], k = u.shape[1];
        var del = new double[k + 1];
        var ins = new double[k + 1];
        int used = 0;
        using (torch.inference_mode())
        {
            // Row t of the lower-triangular "kept" matrix keeps the concepts ranked ≥ t.
            var tri = torch.ones([k + 1, k], ScalarType.Float64).tril(-1);
            for (long s = 0; s < n; s++)
            {
                var order = phi[s].argsort(descending: true);
                var rank = torch.empty_like(order);
                rank.index_put_(torch.arange(k), order);
                // removed[t, i] = 1 if concept i is among the t most important.
                var removed = tri.index_select(1, rank);
                var row = u[s].unsqueeze(0);
                var f0 = ImportanceEstimators.TargetLogit(head, torch.zeros_like(row), targets[s]).item<double>();
                var f1 = ImportanceEstimators.TargetLogit(head, row, targets[s]).item<double>();
                var span = f1 - f0;
                if (Math.Abs(span) < 1e-12) continue;
                var fd = ((ImportanceEstimators.TargetLogit(head, row * (1 - removed), targets[s]) - f0) / span).data<double>().ToArray();
                var fi = ((ImportanceEstimators.TargetLogit(head, row * removed, targets[s]) - f0) / span).data<double>().ToArray();
                for (int t = 0; t <= k; t++) { del[t] += fd[t]; ins[t] += fi[t]; }
                used++;
            }
        }
        if (used == 0) throw new Contracts.InvalidInputException("coefficients", "no sample's target score changes between all concepts and none");
        for (int t = 0; t <= k; t++) { del[t] /= used; ins[t] /= used; }
        return new Result(del, ins, Area(del), Area(ins), used);
    }

    /// <summary>Trapezoid area of a curve sampled at t/K, t = 0…K.</summary>
    public static double Area(double[] curve)
    {
        int k = curve.Length - 1;
        if (k <= 0) return curve.Length == 1 ? curve[0] : 0;
        double s = 0;
        for (int t = 0; t < k; t++) s += 0.5 * (curve[t] + curve[t + 1]);
        return s / k;
    }
}
