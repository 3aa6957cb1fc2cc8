namespace ConceptSuite.Core.Numerics;

/// <summary>
/// Minimum-cost assignment (the Hungarian algorithm, Kuhn 1955 / Munkres 1957, in the O(n²·m)
/// shortest-augmenting-path form with row and column potentials u, v: reduced cost
/// c[i,j] − u[i] − v[j] ≥ 0, tight on the matching). A pure function: no state, no allocation
/// beyond O(n + m).
/// </summary>
public static class Hungarian
{
    /// <summary>
    /// Assigns each row of <paramref name="cost"/> [n, m] (n ≤ m) to a distinct column so that
    /// the summed cost is minimal. Returns column[i] for each row i. For n > m, transpose first
    /// (or use <see cref="SolveRectangular"/>).
    /// </summary>
    public static int[] Solve(double[,] cost)
    {
        ArgumentNullException.ThrowIfNull(cost);
        int n = cost.GetLength(0), m = cost.GetLength(1);
        if (n > m) throw new ArgumentException($"cost has {n} rows and {m} columns; needs rows <= columns", nameof(cost));
        for (int i = 0; i < n; i++)
            for (int j = 0; j < m; j++)
                if (!double.IsFinite(cost[i, j])) throw new ArgumentException($"cost[{i},{j}] is not finite", nameof(cost));
        // 1-based arrays; p[j] = row matched to column j (0 = free), way[j] = previous column on the path.
        var u = new double[n + 1];
        var v = new double[m + 1];
        var p = new int[m + 1];
        var way = new int[m + 1];
        var minv = new double[m + 1];
        var used = new bool[m + 1];
        for (int i = 1; i <= n; i++)
        {
            p[0] = i;
            int j0 = 0;
            Array.Fill(minv, double.PositiveInfinity);
            Array.Fill(used, false);
            do
            {
                used[j0] = true;
                int i0 = p[j0], j1 = 0;
                double delta = double.PositiveInfinity;
                for (int j = 1; j <= m; j++)
                {
                    if (used[j]) continue;
                    double cur = cost[i0 - 1, j - 1] - u[i0] - v[j];
                    if (cur < minv[j]) { minv[j] = cur; way[j] = j0; }
                    if (minv[j] < delta) { delta = minv[j]; j1 = j; }
                }
                for (int j = 0; j <= m; j++)
                {
                    if (used[j]) { u[p[j]] += delta; v[j] -= delta; }
                    else minv[j] -= delta;
                }
                j0 = j1;
            } while (p[j0] != 0);
            do
            {
                int j1 = way[j0];
                p[j0] = p[j1];
                j0 = j1;
            } while (j0 != 0);
        }
        var assignment = new int[n];
        for (int j = 1; j <= m; j++)
            if (p[j] != 0) assignment[p[j] - 1] = j - 1;
        return assignment;
    }

    /// <summary>
    /// Any-shape version: returns column[i] for each row, or −1 for rows left unmatched when
    /// there are more rows than columns.
    /// </summary>
    public static int[] SolveRectangular(double[,] cost)
    {
        int n = cost.GetLength(0), m = cost.GetLength(1);
        if (n <= m) return Solve(cost);
        var t = new double[m, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < m; j++) t[j, i] = cost[i, j];
        var colToRow = Solve(t);
        var result = new int[n];
        Array.Fill(result, -1);
        for (int j = 0; j < m; j++) result[colToRow[j]] = j;
        return result;
    }

    /// <summary>Maximum-score assignment: <see cref="SolveRectangular"/> on −score.</summary>
    public static int[] Maximize(double[,] score)
    {
        int n = score.GetLength(0), m = score.GetLength(1);
        var c = new double[n, m];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < m; j++) c[i, j] = -score[i, j];
        return SolveRectangular(c);
    }
}
