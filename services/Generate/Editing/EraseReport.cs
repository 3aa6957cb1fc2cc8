using ConceptSuite.Generate.Evaluation;
using ConceptSuite.Generate.Model;
using ConceptSuite.Generate.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Generate.Editing;

/// <summary>
/// Both sides of an erasure: efficacy (the erased concepts' rate in generations that ask for them,
/// which should fall to chance) and preserve drift (|rate after − rate before| of the other
/// concepts of the same groups, and their pixel change for identical seeds).
/// </summary>
public sealed record EraseReport(IReadOnlyList<ConceptChange> Erased, IReadOnlyList<ConceptChange> Preserved,
    IReadOnlyList<string> MinedConcepts, int NeighbourKeys, int BeyondKeys)
{
    public double MeanErasedRateAfter => Erased.Count == 0 ? 0 : Erased.Average(c => c.RateAfter);
    public double MeanPreserveDrift => Preserved.Count == 0 ? 0 : Preserved.Average(c => Math.Abs(c.RateAfter - c.RateBefore));
    public double MaxPreserveDrift => Preserved.Count == 0 ? 0 : Preserved.Max(c => Math.Abs(c.RateAfter - c.RateBefore));
    public double MeanPreservePixelDrift => Preserved.Count == 0 ? 0 : Preserved.Average(c => c.PixelDrift);

    public Dictionary<string, double> Metrics()
    {
        var m = new Dictionary<string, double>
        {
            ["erased_rate_after"] = MeanErasedRateAfter,
            ["erased_rate_before"] = Erased.Count == 0 ? 0 : Erased.Average(c => c.RateBefore),
            ["preserve_drift_mean"] = MeanPreserveDrift,
            ["preserve_drift_max"] = MaxPreserveDrift,
            ["preserve_pixel_drift"] = MeanPreservePixelDrift,
        };
        foreach (var c in Erased)
        {
            m[$"erased.{c.Concept}.before"] = c.RateBefore; m[$"erased.{c.Concept}.after"] = c.RateAfter; m[$"erased.{c.Concept}.neutral"] = c.NeutralRate;
        }
        foreach (var c in Preserved) { m[$"preserved.{c.Concept}.before"] = c.RateBefore; m[$"preserved.{c.Concept}.after"] = c.RateAfter; }
        return m;
    }

    /// <summary>Measures an edit: the same prompts and seeds through the original and the edited generator.</summary>
    public static EraseReport Measure(ConceptGenerator original, ConceptGenerator edited, ConceptClassifier judge, EditPlan plan,
        IReadOnlyList<string> erased, int samplesPerPrompt, int steps, double guidance, long seed, CancellationToken ct = default)
    {
        var judged = judge.Groups.ToDictionary(g => g.Group, g => g.Concepts);
        var erasedJudged = erased.Where(c => judged.ContainsKey(ConceptVocabulary.GroupOf(c))).ToList();
        var preserved = erasedJudged.SelectMany(c => judged[ConceptVocabulary.GroupOf(c)]).Distinct()
            .Where(c => !erased.Contains(c) && !plan.MinedConcepts.Contains(c)).ToList();
        ConceptChange Change(string concept, bool neutral)
        {
            var prompts = ConceptRates.PromptsFor(original.Vocabulary, concept);
            var before = new List<Tensor>(); var after = new List<Tensor>();
            var rb = ConceptRates.Evaluate(original, judge, prompts, samplesPerPrompt, steps, guidance, seed, ct, keepImages: before);
            var ra = ConceptRates.Evaluate(edited, judge, prompts, samplesPerPrompt, steps, guidance, seed, ct, keepImages: after);
            double drift;
            using (var scope = NewDisposeScope())
                drift = (cat(after, 0) - cat(before, 0)).abs().mean().item<float>() / 2.0;
            foreach (var t in before.Concat(after)) t.Dispose();
            var grp = ConceptVocabulary.GroupOf(concept);
            var without = prompts.Select(p => ConceptVocabulary.BuildPrompt(original.Vocabulary.Words(p).Where(w => w != concept))).ToList();
            double neutralRate = neutral ? ConceptRates.ShareOf(original, judge, without, concept, samplesPerPrompt, steps, guidance, seed, ct) : double.NaN;
            return new ConceptChange(concept, rb.RateOf(concept), ra.RateOf(concept), 1.0 / judged[grp].Length, drift, neutralRate);
        }
        return new EraseReport(erasedJudged.Select(c => Change(c, true)).ToList(), preserved.Select(c => Change(c, false)).ToList(),
            plan.MinedConcepts, plan.NeighbourKeys, plan.BeyondKeys);
    }
}
