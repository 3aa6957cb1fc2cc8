using InvalidInputException = ConceptSuite.Contracts.InvalidInputException;
using ConceptSuite.Generate.Model;
using ConceptSuite.Generate.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Generate.Evaluation;

/// <summary>
/// The concept-rate metric: for each prompt, n samples (seeds seed + i·n + j), classify, and
/// rate(c) = #(samples of prompts requesting c whose predicted concept of c's group is c) / #(those samples).
/// </summary>
public static class ConceptRates
{
    public const int MaxSamples = 4096;

    /// <summary>One prompt per concept of <paramref name="group"/>, crossed with each concept of <paramref name="crossGroup"/> when given.</summary>
    /// <summary>
    /// The prompts of an Evaluate request that names none: every judged concept of the generator's
    /// vocabulary (shapes aside) crossed with each shape; with no such concept, one prompt per shape.
    /// </summary>
    public static List<string> DefaultPrompts(ConceptGenerator generator, ConceptClassifier judge)
    {
        var prompts = judge.Groups.Where(g => g.Group != "shape").SelectMany(g => g.Concepts).Where(generator.Vocabulary.Contains)
            .SelectMany(c => PromptsFor(generator.Vocabulary, c)).ToList();
        if (prompts.Count == 0 && judge.Groups.Any(g => g.Group == "shape"))
            prompts = judge.Groups.First(g => g.Group == "shape").Concepts.Select(s => ConceptVocabulary.BuildPrompt([s])).ToList();
        return prompts;
    }

    public static List<string> PromptsFor(ConceptVocabulary vocab, string concept, string? crossGroup = "shape")
    {
        var groups = vocab.Groups;
        var cross = crossGroup is not null && ConceptVocabulary.GroupOf(concept) != crossGroup && groups.TryGetValue(crossGroup, out var cs) ? cs : [];
        return cross.Length == 0 ? [ConceptVocabulary.BuildPrompt([concept])] : cross.Select(s => ConceptVocabulary.BuildPrompt([concept, s])).ToList();
    }

    /// <summary>
    /// Fraction of generations of <paramref name="prompts"/> (n each, seeds as in Evaluate) that the
    /// classifier reads as <paramref name="concept"/>, whether or not the prompts ask for it: for
    /// the prompts without the concept's word it is the generator's own base rate of the concept.
    /// </summary>
    public static double ShareOf(ConceptGenerator generator, ConceptClassifier classifier, IReadOnlyList<string> prompts, string concept,
        int samplesPerPrompt, int steps, double guidance, long seed, CancellationToken ct = default)
    {
        var grp = ConceptVocabulary.GroupOf(concept);
        var groupConcepts = classifier.Groups.FirstOrDefault(g => g.Group == grp).Concepts
            ?? throw new InvalidInputException("concept", $"the classifier does not judge group '{grp}'");
        int k = Array.IndexOf(groupConcepts, concept), hit = 0;
        for (int i = 0; i < prompts.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var seeds = Enumerable.Range(0, samplesPerPrompt).Select(j => seed + (long)i * samplesPerPrompt + j).ToList();
            var images = generator.Generate(Enumerable.Repeat(prompts[i], samplesPerPrompt).ToList(), seeds, steps, guidance);
            hit += (int)classifier.Predict(images)[grp].argmax(-1).eq(k).sum().item<long>();
        }
        return (double)hit / (samplesPerPrompt * prompts.Count);
    }

    public static EvaluationReport Evaluate(ConceptGenerator generator, ConceptClassifier classifier, IReadOnlyList<string> prompts,
        int samplesPerPrompt, int steps, double guidance, long seed, CancellationToken ct = default, Action<int, int>? onPrompt = null, List<Tensor>? keepImages = null)
    {
        if (prompts.Count == 0) throw new InvalidInputException("prompts", "at least one prompt is required");
        if (samplesPerPrompt < 1 || (long)samplesPerPrompt * prompts.Count > MaxSamples)
            throw new InvalidInputException("samples_per_prompt", $"must be >= 1 with prompts × samples <= {MaxSamples}");
        ConceptGenerator.ValidateSampling(steps, guidance);
        var words = prompts.Select((p, i) => generator.Vocabulary.Words(p, $"prompts[{i}]")).ToList();
        var judged = classifier.Groups.ToDictionary(g => g.Group, g => g.Concepts);
        var hits = new Dictionary<string, (int Hit, int N)>();
        var perPrompt = new List<PromptRate>();
        for (int i = 0; i < prompts.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var seeds = Enumerable.Range(0, samplesPerPrompt).Select(j => seed + (long)i * samplesPerPrompt + j).ToList();
            var images = generator.Generate(Enumerable.Repeat(prompts[i], samplesPerPrompt).ToList(), seeds, steps, guidance);
            var probs = classifier.Predict(images);
            keepImages?.Add(images.detach().clone().MoveToOuterDisposeScope());
            var rates = new Dictionary<string, double>();
            foreach (var w in words[i])
            {
                var grp = ConceptVocabulary.GroupOf(w);
                if (!judged.TryGetValue(grp, out var groupConcepts)) continue;
                int k = Array.IndexOf(groupConcepts, w);
                int hit = (int)probs[grp].argmax(-1).eq(k).sum().item<long>();
                rates[w] = (double)hit / samplesPerPrompt;
                var prev = hits.GetValueOrDefault(w);
                hits[w] = (prev.Hit + hit, prev.N + samplesPerPrompt);
            }
            perPrompt.Add(new PromptRate(prompts[i], rates, samplesPerPrompt));
            onPrompt?.Invoke(i + 1, prompts.Count);
        }
        var concepts = hits.Select(kv =>
        {
            var grp = ConceptVocabulary.GroupOf(kv.Key);
            return new ConceptRate(kv.Key, grp, (double)kv.Value.Hit / kv.Value.N, 1.0 / judged[grp].Length, kv.Value.N);
        }).OrderBy(c => Array.IndexOf(ConceptVocabulary.GroupOrder, c.Group)).ThenBy(c => generator.Vocabulary.TokenOf(c.Concept)).ToList();
        return new EvaluationReport(concepts, perPrompt);
    }
}
