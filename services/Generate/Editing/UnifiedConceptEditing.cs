using ConceptSuite.Generate.Model;
using ConceptSuite.Generate.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Generate.Editing;

/// <summary>
/// Unified concept editing (Gandikota et al., 2024): erase keys are the erased concepts' token
/// embeddings c_i, targets v*_i = W c_target (the target concept, or BOS for the neutral prompt),
/// preserve keys the listed concepts (default: every other concept, targets included, and BOS).
/// </summary>
public sealed class UnifiedConceptEditing(ClosedFormOptions options) : IConceptEraser
{
    public ClosedFormOptions ClosedForm { get; } = options;

    public EditPlan Plan(ConceptGenerator generator, EraseSpec spec) => BasePlan(generator, spec, []);

    internal static EditPlan BasePlan(ConceptGenerator g, EraseSpec spec, IReadOnlyList<string> mined)
    {
        using var scope = NewDisposeScope();
        var emb = g.Model.TokenEmbeddings.detach().cpu().to_type(ScalarType.Float64);
        var erased = spec.Concepts.Concat(mined).Distinct().ToList();
        var targetOf = new List<int>();
        for (int i = 0; i < erased.Count; i++)
        {
            // Mined concepts share the target of the concept that mined them (the first one's when ambiguous).
            string target = i < spec.Targets.Count ? spec.Targets[i] : (spec.Targets.Count > 0 ? spec.Targets[0] : "");
            targetOf.Add(target == "" ? ConceptVocabulary.Bos : g.Vocabulary.TokenOf(target));
        }
        // Targets keep their own map (W' t = W t), so mapping red → green leaves "green" unchanged.
        var preserved = spec.Preserve.Count > 0 ? spec.Preserve.ToList()
            : g.Vocabulary.Concepts.Where(c => !erased.Contains(c)).ToList();
        var preserveIds = preserved.Select(c => (long)g.Vocabulary.TokenOf(c)).ToList();
        // BOS is preserved unless it is the neutral target (it then maps to itself anyway).
        preserveIds.Add(ConceptVocabulary.Bos);
        var ek = emb.index_select(0, tensor(erased.Select(c => (long)g.Vocabulary.TokenOf(c)).ToArray()));
        var tk = emb.index_select(0, tensor(targetOf.Select(t => (long)t).ToArray()));
        var pk = emb.index_select(0, tensor(preserveIds.ToArray()));
        return new EditPlan(ek.MoveToOuterDisposeScope(), tk.MoveToOuterDisposeScope(), pk.MoveToOuterDisposeScope(),
            erased, preserved, mined, 0, 0);
    }
}
