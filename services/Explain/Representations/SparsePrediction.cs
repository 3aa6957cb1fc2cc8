using TorchSharp;

namespace ConceptSuite.Explain.Representations;

/// <summary>
/// Sparse prediction of one network's units from another's (Li et al. 2016, §4, "sparse
/// prediction loss"): for every unit j of B, an L1-regularised linear regression on all units of A
/// (both sides standardised), the Lasso of Tibshirani 1996 with scikit-learn's objective
/// min_w (1/2n)‖b_j − A w‖² + α‖w‖₁, solved by cyclic coordinate descent on the Gram matrix
/// (Friedman, Hastie and Tibshirani 2010). Reports the weights, each unit's R² and its number of
/// non-zero weights: few large weights mean a near one-to-one mapping, many mean a distributed one.
/// </summary>
public sealed class SparsePrediction(double alpha = 0.01, int maxIterations = 10_000, double tolerance = 1e-12)
{
    public double Alpha { get; } = alpha >= 0 && double.IsFinite(alpha) ? alpha : throw new Contracts.InvalidInputException("sparse_alpha", "must be a finite number ≥ 0");

    /// <summary>Weights W [D₁, D₂] (column j predicts unit j of B), R² and non-zero count per unit of B.</summary>
    public sealed record Result(double[,] Weights, double[] R2, int[] NonZero);

    public Result Fit(torch.Tensor a, torch.Tensor b)
    {
        using var scope = torch.NewDisposeScope();
        var (x, y) = ExplainTensors.Pair(a, b, 2);
        var xs = UnitCorrelation.Standardize(x);
        var ys = UnitCorrelation.Standardize(y);
        long n = xs.shape[0];
        var g = ExplainTensors.ToArray2D(xs.t().matmul(xs) / n);
        var c = ExplainTensors.ToArray2D(xs.t().matmul(ys) / n);
        var yy = ys.square().mean([0]).data<double>().ToArray();
        var w = Solve(g, c, Alpha, maxIterations, tolerance);
        int p = g.GetLength(0), t = c.GetLength(1);
        var r2 = new double[t];
        var nz = new int[t];
        for (int j = 0; j < t; j++)
        {
            // Mean squared residual = yᵀy/n − 2 wᵀc + wᵀGw (all divided by n already).
            double wc = 0, wgw = 0;
            for (int i = 0; i < p; i++)
            {
                if (w[i, j] != 0) nz[j]++;
                wc += w[i, j] * c[i, j];
                double gi = 0;
                for (int k = 0; k < p; k++) gi += g[i, k] * w[k, j];
                wgw += w[i, j] * gi;
            }
            var mse = yy[j] - 2 * wc + wgw;
            r2[j] = yy[j] > 0 ? 1 - mse / yy[j] : 0;
        }
        return new Result(w, r2, nz);
    }

    /// <summary>Coordinate descent for all targets at once on G = XᵀX/n, C = XᵀY/n.</summary>
    public static double[,] Solve(double[,] g, double[,] c, double alpha, int maxIterations, double tolerance)
    {
        int p = g.GetLength(0), t = c.GetLength(1);
        var w = new double[p, t];
        for (int j = 0; j < t; j++)
        {
            for (int it = 0; it < maxIterations; it++)
            {
                double maxDelta = 0, maxW = 0;
                for (int i = 0; i < p; i++)
                {
                    if (g[i, i] <= 0) continue;
                    double rho = c[i, j];
                    for (int k = 0; k < p; k++) if (k != i) rho -= g[i, k] * w[k, j];
                    var next = Math.Sign(rho) * Math.Max(Math.Abs(rho) - alpha, 0) / g[i, i];
                    maxDelta = Math.Max(maxDelta, Math.Abs(next - w[i, j]));
                    w[i, j] = next;
                    maxW = Math.Max(maxW, Math.Abs(next));
                }
                if (maxDelta <= tolerance * Math.Max(1, maxW)) break;
            }
        }
        return w;
    }
}
