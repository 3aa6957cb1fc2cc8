using ConceptSuite.Core.Numerics;

namespace ConceptSuite.Discovery.Naming;

/// <summary>
/// Whether concept names are right, against ground truth: each concept is matched to the
/// ground-truth value (a binary attribute of every sample, e.g. "red" or "striped") that its
/// activation detects best (the largest ROC AUC, <see cref="GroundTruthMatch"/>) and counts as
/// well matched when that AUC reaches a threshold (0.9). Naming accuracy is the share of
/// well-matched concepts whose name is an accepted word of the matched value (the value's word or
/// a WordNet synonym).
/// </summary>
public static class NamingAccuracy
{
    /// <param name="Value">Index of the best-detected value.</param>
    /// <param name="Auc">Its AUC.</param>
    /// <param name="Correct">Whether the name is an accepted word of the value.</param>
    public sealed record Match(int Concept, string Name, int Value, double Auc, bool Correct);

    /// <param name="Accuracy">Share of well-matched concepts named right (0 when none is well matched).</param>
    /// <param name="Matched">Share of concepts that are well matched.</param>
    public sealed record Result(double Accuracy, double Matched, int WellMatched, int NamedRight, IReadOnlyList<Match> Concepts);

    /// <summary>
    /// Scores names against ground truth.
    /// </summary>
    /// <param name="activations">Per concept, its activation on every sample ([C][N]).</param>
    /// <param name="truth">Per value, whether each sample has it ([V][N]).</param>
    /// <param name="accepted">Per value, the words that name it right (its word and synonyms).</param>
    /// <param name="names">Per concept, its name.</param>
    /// <param name="threshold">The AUC from which a concept is well matched.</param>
    public static Result Score(IReadOnlyList<float[]> activations, IReadOnlyList<bool[]> truth, IReadOnlyList<IReadOnlySet<string>> accepted,
        IReadOnlyList<string> names, double threshold = 0.9)
    {
        if (activations.Count != names.Count) throw new ArgumentException($"{activations.Count} concepts but {names.Count} names");
        if (truth.Count != accepted.Count) throw new ArgumentException($"{truth.Count} values but {accepted.Count} accepted-word sets");
        var matches = new List<Match>(activations.Count);
        for (int c = 0; c < activations.Count; c++)
        {
            var (best, bestAuc) = GroundTruthMatch.Best(activations[c], truth);
            bool correct = best >= 0 && accepted[best].Contains(names[c]);
            matches.Add(new Match(c, names[c], best, bestAuc, correct));
        }
        var well = matches.Where(m => m.Auc >= threshold).ToList();
        int right = well.Count(m => m.Correct);
        return new Result(well.Count == 0 ? 0 : (double)right / well.Count, matches.Count == 0 ? 0 : (double)well.Count / matches.Count,
            well.Count, right, matches);
    }
}
