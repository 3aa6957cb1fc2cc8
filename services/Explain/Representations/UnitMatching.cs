using ConceptSuite.Core.Numerics;
using TorchSharp;

namespace ConceptSuite.Explain.Representations;

/// <summary>
/// One-to-one matching of units between two networks (Li et al. 2016, §3.1, "bipartite
/// matching"): the assignment σ maximising Σᵢ C_{i,σ(i)} over the unit correlation matrix C,
/// solved exactly by the Hungarian method, with each pair's correlation; also the semi-matching
/// (each unit of A to its most correlated unit of B, several may share one).
/// </summary>
public static class UnitMatching
{
    /// <summary>The matching: for each unit i of A its partner in B (-1 when A has more units) and their correlation.</summary>
    public sealed record Result(int[] Partner, double[] Correlation, int[] SemiPartner, double[] SemiCorrelation)
    {
        /// <summary>Mean correlation over matched pairs.</summary>
        public double MeanMatched => Correlation.Where((_, i) => Partner[i] >= 0).DefaultIfEmpty(0).Average();
    }

    public static Result Match(torch.Tensor a, torch.Tensor b)
    {
        using var scope = torch.NewDisposeScope();
        return FromCorrelation(ExplainTensors.ToArray2D(UnitCorrelation.Compute(a, b)));
    }

    public static Result FromCorrelation(double[,] c)
    {
        int n = c.GetLength(0), m = c.GetLength(1);
        var partner = Hungarian.Maximize(c);
        var corr = new double[n];
        var semi = new int[n];
        var semiCorr = new double[n];
        for (int i = 0; i < n; i++)
        {
            corr[i] = partner[i] >= 0 ? c[i, partner[i]] : 0;
            int best = 0;
            for (int j = 1; j < m; j++) if (c[i, j] > c[i, best]) best = j;
            semi[i] = best; semiCorr[i] = c[i, best];
        }
        return new Result(partner, corr, semi, semiCorr);
    }
}
