using ConceptSuite.Generate.Evaluation;
using ConceptSuite.Generate.Model;
using ConceptSuite.Generate.Text;
using TorchSharp;
using static TorchSharp.torch;
using InvalidInputException = ConceptSuite.Contracts.InvalidInputException;

namespace ConceptSuite.Generate.Editing;

/// <summary>
/// Steering along a concept direction: every attended token embedding c becomes
/// c + α·‖c̄‖·d/‖d‖ (‖c̄‖ the mean token norm), so each cross-attention key and value moves by
/// α‖c̄‖·W d/‖d‖. The default direction of concept k is e_k − mean(e_g for g in k's group) — the
/// same difference-of-means direction a discovery stage yields in embedding space. The effect is
/// the change of the concept classifier's mean probability of k on the same seeds.
/// </summary>
public static class ConceptSteering
{
    public const double MaxStrength = 10.0;

    public static Tensor DefaultDirection(ConceptGenerator g, string concept, string field = "concept")
    {
        int tok = g.Vocabulary.TokenOf(concept, field);
        var grp = g.Vocabulary.Groups[ConceptVocabulary.GroupOf(concept)];
        using var _ = no_grad();
        var emb = g.Model.TokenEmbeddings.detach();
        var mean = emb.index_select(0, tensor(grp.Select(c => (long)g.Vocabulary.TokenOf(c)).ToArray(), device: emb.device)).mean([0]);
        return (emb[tok] - mean).cpu();
    }

    public static SteeringResult Steer(ConceptGenerator g, ConceptClassifier judge, IReadOnlyList<string> prompts, string concept,
        Tensor? direction, double strength, int samples, long seed, int steps, double guidance)
    {
        g.Vocabulary.TokenOf(concept, "concept");
        var grp = ConceptVocabulary.GroupOf(concept);
        var judged = judge.Groups.ToDictionary(x => x.Group, x => x.Concepts);
        if (!judged.TryGetValue(grp, out var concepts)) throw new InvalidInputException("concept", $"the classifier does not judge group '{grp}'");
        if (direction is not null && (direction.dim() != 1 || direction.shape[0] != g.Config.TextDim))
            throw new InvalidInputException("direction", $"must be float32 [{g.Config.TextDim}] (the token embedding width)");
        if (direction is not null && direction.norm().item<float>() == 0) throw new InvalidInputException("direction", "must not be zero");
        if (!double.IsFinite(strength) || Math.Abs(strength) > MaxStrength) throw new InvalidInputException("strength", $"must be in [-{MaxStrength}, {MaxStrength}]");
        if (prompts.Count == 0) throw new InvalidInputException("prompts", "at least one prompt is required");
        if (samples < 1 || (long)samples * prompts.Count > 1024) throw new InvalidInputException("samples", "must be >= 1 with prompts × samples <= 1024");
        ConceptGenerator.ValidateSampling(steps, guidance);
        var all = prompts.SelectMany(p => Enumerable.Repeat(p, samples)).ToList();
        var tokens = g.Tokenize(all);
        using var scope = NewDisposeScope();
        using var _ = inference_mode();
        var d = (direction ?? DefaultDirection(g, concept)).to_type(ScalarType.Float32).to(g.Device);
        d = d / d.norm();
        var ctx = g.Model.Encode(tokens);
        var scale = ctx.Embeddings.norm(-1).masked_select(ctx.AttendMask).mean();
        var steered = new TextContext(ctx.Embeddings + strength * scale * d, ctx.AttendMask);
        var seeds = Enumerable.Range(0, all.Count).Select(i => seed + i).ToList();
        var before = g.Sample(ctx, seeds, steps, guidance);
        var after = g.Sample(steered, seeds, steps, guidance);
        int k = Array.IndexOf(concepts, concept);
        var pb = judge.Predict(before)[grp]; var pa = judge.Predict(after)[grp];
        double Score(Tensor p) => p[.., k].mean().item<float>();
        double Rate(Tensor p) => p.argmax(-1).eq(k).to_type(ScalarType.Float32).mean().item<float>();
        return new SteeringResult(Score(pb), Score(pa), Rate(pb), Rate(pa), before.MoveToOuterDisposeScope(), after.MoveToOuterDisposeScope());
    }
}
