using ConceptSuite.Core.Numerics;

namespace ConceptSuite.Tests.Discovery;

public class HungarianTests
{
    [Fact]
    public void SolvesTheClassicThreeByThreeExactly()
    {
        // Hand-checked: rows→cols (0→1, 1→0, 2→2) costs 1 + 2 + 2 = 5, the minimum of the 6 permutations.
        var cost = new double[,] { { 4, 1, 3 }, { 2, 0, 5 }, { 3, 2, 2 } };
        var a = Hungarian.Solve(cost);
        Assert.Equal(new[] { 1, 0, 2 }, a);
    }

    [Fact]
    public void MatchesBruteForceOnRandomSquareMatrices()
    {
        var rng = new Random(7);
        for (int trial = 0; trial < 50; trial++)
        {
            int n = 1 + rng.Next(6);
            var c = new double[n, n];
            for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) c[i, j] = Math.Round(rng.NextDouble() * 10, 2);
            var a = Hungarian.Solve(c);
            Assert.Equal(n, a.Distinct().Count());
            double got = Enumerable.Range(0, n).Sum(i => c[i, a[i]]);
            Assert.Equal(BruteForce(c), got, 9);
        }
    }

    [Fact]
    public void RectangularLeavesExtraRowsUnmatchedAndMaximizeFlipsTheSign()
    {
        var score = new double[,] { { 0.9, 0.1 }, { 0.2, 0.8 }, { 0.95, 0.3 } };
        var a = Hungarian.Maximize(score);
        // Best total: row 2 → col 0 (0.95) and row 1 → col 1 (0.8); row 0 unmatched.
        Assert.Equal(new[] { -1, 1, 0 }, a);
    }

    static double BruteForce(double[,] c)
    {
        int n = c.GetLength(0);
        double best = double.PositiveInfinity;
        void Go(int i, bool[] used, double acc)
        {
            if (i == n) { best = Math.Min(best, acc); return; }
            for (int j = 0; j < n; j++)
                if (!used[j]) { used[j] = true; Go(i + 1, used, acc + c[i, j]); used[j] = false; }
        }
        Go(0, new bool[n], 0);
        return best;
    }
}
