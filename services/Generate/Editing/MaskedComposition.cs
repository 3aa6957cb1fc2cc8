using ConceptSuite.Generate.Evaluation;
using ConceptSuite.Generate.Model;
using ConceptSuite.Generate.Text;
using TorchSharp;
using static TorchSharp.torch;
using InvalidInputException = ConceptSuite.Contracts.InvalidInputException;

namespace ConceptSuite.Generate.Editing;

/// <summary>
/// Multi-concept composition in the manner of Concept Conductor (Yao et al., 2024): each concept
/// runs as an isolated branch — its own prompt's keys and values, never mixed with another
/// concept's tokens — and the branches' cross-attention outputs are fused inside their masks at
/// every layer and step: out = Σ_r m_r ⊙ Attn(h, c_r), with the background prompt's branch on the
/// complement, so no concept's attention leaks into another's region. Layout check: each region
/// of each sample is judged by the concept classifier with everything outside it blanked to grey.
/// </summary>
public static class MaskedComposition
{
    public const int MaxRegions = 8;

    public static void Validate(ConceptGenerator g, IReadOnlyList<Region> regions, string background)
    {
        if (regions.Count is 0 or > MaxRegions) throw new InvalidInputException("regions", $"give 1 to {MaxRegions} regions");
        int s = g.Config.ImageSize;
        Tensor? union = null;
        for (int r = 0; r < regions.Count; r++)
        {
            g.Vocabulary.Words(regions[r].Prompt, $"regions[{r}].prompt");
            var m = regions[r].Mask;
            if (m.dim() != 2 || m.shape[0] != s || m.shape[1] != s)
                throw new InvalidInputException($"regions[{r}].mask", $"shape [{string.Join(",", m.shape)}] must be [{s},{s}] (the generator's image size)");
            if (!m.any().item<bool>()) throw new InvalidInputException($"regions[{r}].mask", "is empty");
            if (union is not null && union.logical_and(m).any().item<bool>())
                throw new InvalidInputException($"regions[{r}].mask", "overlaps an earlier region; regions must be disjoint");
            union = union is null ? m.clone() : union.logical_or(m);
        }
        g.Vocabulary.Words(background, "background_prompt");
        union?.Dispose();
    }

    public static CompositionResult Compose(ConceptGenerator g, ConceptClassifier judge, IReadOnlyList<Region> regions, string background,
        IReadOnlyList<long> seeds, int steps, double guidance)
    {
        Validate(g, regions, background);
        ConceptGenerator.ValidateSampling(steps, guidance);
        using var scope = NewDisposeScope();
        using var _ = inference_mode();
        var masks = regions.Select(r => r.Mask.to_type(ScalarType.Float32)).ToList();
        var rest = (1 - stack(masks).sum(dim: 0)).clamp_min(0);
        var all = stack([.. masks, rest]).to(g.Device);
        var contexts = regions.Select(r => g.Model.Encode(g.Tokenize([r.Prompt]))).Append(g.Model.Encode(g.Tokenize([background]))).ToList();
        var images = g.Sample(Conditioning.Regional(contexts, all), seeds, steps, guidance);
        var checks = new List<RegionResult>();
        var judged = judge.Groups.ToDictionary(x => x.Group, x => x.Concepts);
        for (int r = 0; r < regions.Count; r++)
        {
            var m = masks[r].cpu();
            var inside = images * m + (1 - m) * 0.0; // grey (0 in [−1, 1]) outside
            var probs = judge.Predict(inside);
            foreach (var w in g.Vocabulary.Words(regions[r].Prompt))
            {
                var grp = ConceptVocabulary.GroupOf(w);
                if (!judged.TryGetValue(grp, out var cs)) continue;
                double rate = probs[grp].argmax(-1).eq(Array.IndexOf(cs, w)).to_type(ScalarType.Float32).mean().item<float>();
                checks.Add(new RegionResult(r, grp, w, rate));
            }
        }
        return new CompositionResult(images.MoveToOuterDisposeScope(), checks);
    }
}
