namespace ConceptSuite.Explain.Clustering;

/// <summary>
/// k-means (Lloyd 1982) with k-means++ seeding (Arthur and Vassilvitskii 2007): minimises
/// Σᵢ ‖xᵢ − μ_{c(i)}‖²; the best of <see cref="Restarts"/> seeded runs is kept. Used to cluster
/// spectral embeddings of units and the importance vectors of a class's samples.
/// </summary>
public sealed class KMeans(int k, int restarts = 10, int maxIterations = 300, int seed = 0)
{
    public int K { get; } = k >= 1 ? k : throw new Contracts.InvalidInputException("clusters", $"must be at least 1, got {k}");
    public int Restarts { get; } = Math.Max(1, restarts);

    /// <summary>The fitted partition.</summary>
    public sealed record Result(int[] Labels, double[][] Centers, double Inertia);

    public Result Fit(double[][] x)
    {
        if (x.Length < K) throw new Contracts.InvalidInputException("clusters", $"{K} clusters need at least {K} samples, got {x.Length}");
        var rng = new Random(seed);
        Result? best = null;
        for (int r = 0; r < Restarts; r++)
        {
            var res = Run(x, rng);
            if (best is null || res.Inertia < best.Inertia - 1e-12) best = res;
        }
        return best!;
    }

    Result Run(double[][] x, Random rng)
    {
        int n = x.Length, d = x[0].Length;
        var centers = new double[K][];
        centers[0] = (double[])x[rng.Next(n)].Clone();
        var dist = new double[n];
        for (int c = 1; c < K; c++)
        {
            double total = 0;
            for (int i = 0; i < n; i++)
            {
                double m = double.PositiveInfinity;
                for (int j = 0; j < c; j++) m = Math.Min(m, Sq(x[i], centers[j]));
                dist[i] = m; total += m;
            }
            int pick = n - 1;
            if (total > 0)
            {
                double u = rng.NextDouble() * total, acc = 0;
                for (int i = 0; i < n; i++) { acc += dist[i]; if (acc >= u) { pick = i; break; } }
            }
            else pick = rng.Next(n);
            centers[c] = (double[])x[pick].Clone();
        }
        var labels = new int[n];
        Array.Fill(labels, -1);
        double inertia = 0;
        for (int it = 0; it < maxIterations; it++)
        {
            bool changed = false;
            inertia = 0;
            for (int i = 0; i < n; i++)
            {
                int bi = 0; double bd = double.PositiveInfinity;
                for (int c = 0; c < K; c++) { var dd = Sq(x[i], centers[c]); if (dd < bd) { bd = dd; bi = c; } }
                if (labels[i] != bi) { labels[i] = bi; changed = true; }
                inertia += bd;
            }
            if (!changed) break;
            var sums = new double[K][];
            var counts = new int[K];
            for (int c = 0; c < K; c++) sums[c] = new double[d];
            for (int i = 0; i < n; i++) { counts[labels[i]]++; for (int j = 0; j < d; j++) sums[labels[i]][j] += x[i][j]; }
            for (int c = 0; c < K; c++)
            {
                if (counts[c] == 0)
                {
                    // An empty cluster takes the point farthest from its centre.
                    int far = 0; double fd = -1;
                    for (int i = 0; i < n; i++) { var dd = Sq(x[i], centers[labels[i]]); if (dd > fd) { fd = dd; far = i; } }
                    centers[c] = (double[])x[far].Clone();
                    continue;
                }
                for (int j = 0; j < d; j++) centers[c][j] = sums[c][j] / counts[c];
            }
        }
        return new Result(labels, centers, inertia);
    }

    static double Sq(double[] a, double[] b)
    {
        double s = 0;
        for (int j = 0; j < a.Length; j++) { var t = a[j] - b[j]; s += t * t; }
        return s;
    }
}
