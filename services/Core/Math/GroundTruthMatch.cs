namespace ConceptSuite.Core.Numerics;

/// <summary>
/// Matching concepts to ground truth: each concept is matched to the ground-truth value (a binary
/// attribute of every sample, e.g. "red" or "striped") that its activation detects best — the
/// largest ROC AUC of the activation for the value's presence. Naming accuracy judges the matched
/// value's word against the concept's name; concept trust uses the matched value's labels and
/// masks as the concept's own.
/// </summary>
public static class GroundTruthMatch
{
    /// <summary>
    /// ROC AUC of <paramref name="score"/> for <paramref name="positive"/> (Mann–Whitney U with
    /// average ranks for ties): the probability that a random positive scores above a random
    /// negative. 0.5 when one class is empty.
    /// </summary>
    public static double Auc(ReadOnlySpan<float> score, ReadOnlySpan<bool> positive)
    {
        if (score.Length != positive.Length) throw new ArgumentException("score and positive differ in length");
        int n = score.Length;
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        var s = score.ToArray();
        Array.Sort(s.ToArray(), order);
        long pos = 0;
        double rankSum = 0;
        for (int i = 0; i < n;)
        {
            int j = i;
            while (j + 1 < n && s[order[j + 1]] == s[order[i]]) j++;
            double rank = (i + j) / 2.0 + 1;                       // average 1-based rank of the tie group
            for (int t = i; t <= j; t++)
                if (positive[order[t]]) { rankSum += rank; pos++; }
            i = j + 1;
        }
        long neg = n - pos;
        if (pos == 0 || neg == 0) return 0.5;
        return (rankSum - pos * (pos + 1) / 2.0) / ((double)pos * neg);
    }

    /// <summary>The value <paramref name="activation"/> detects best (the first on ties) and its AUC; (-1, −∞) without values.</summary>
    /// <param name="activation">The concept's activation on every sample [N].</param>
    /// <param name="truth">Per value, whether each sample has it ([V][N]).</param>
    public static (int Value, double Auc) Best(ReadOnlySpan<float> activation, IReadOnlyList<bool[]> truth)
    {
        int best = -1;
        double bestAuc = double.NegativeInfinity;
        for (int v = 0; v < truth.Count; v++)
        {
            double auc = Auc(activation, truth[v]);
            if (auc > bestAuc) (best, bestAuc) = (v, auc);
        }
        return (best, bestAuc);
    }
}
