using ConceptSuite.Core.Methods;
using ConceptSuite.Generate.Model;
using static TorchSharp.torch;
using InvalidInputException = ConceptSuite.Contracts.InvalidInputException;

namespace ConceptSuite.Generate.Editing;

/// <summary>The erasers (family "eraser"): a new method is one file plus one line here.</summary>
public static class ConceptErasers
{
    public static readonly MethodFamily<IConceptEraser> Family = new("eraser", GenerateStage.Name,
        "Closed-form concept erasure in the cross-attention key/value projections", "eraser.method",
    [
        new("uce", "Gandikota et al. 2024, Unified Concept Editing in Diffusion Models",
            "Maps the erased concepts' keys to their targets, keeps the preserved ones", ClosedFormOptions.Schema,
            o => new UnifiedConceptEditing(ClosedFormOptions.From(o))),
        new("realera", "Liu et al. 2024, RealEra: Semantic-level Concept Erasure via Neighbor-Concept Mining",
            "UCE plus neighbour-concept mining and beyond-concept regularisation", RealEraOptions.Schema,
            o => new RealEra(RealEraOptions.From(o))),
    ]);

    /// <summary>Validates a spec against a vocabulary (before computing).</summary>
    public static void Validate(ConceptGenerator g, EraseSpec s)
    {
        if (s.Concepts.Count == 0) throw new InvalidInputException("concepts", "at least one concept to erase is required");
        for (int i = 0; i < s.Concepts.Count; i++) g.Vocabulary.TokenOf(s.Concepts[i], $"concepts[{i}]");
        if (s.Targets.Count != 0 && s.Targets.Count != s.Concepts.Count)
            throw new InvalidInputException("targets", $"give none or one per erased concept ({s.Concepts.Count})");
        for (int i = 0; i < s.Targets.Count; i++)
        {
            if (s.Targets[i] == "") continue;
            g.Vocabulary.TokenOf(s.Targets[i], $"targets[{i}]");
            if (s.Concepts.Contains(s.Targets[i])) throw new InvalidInputException($"targets[{i}]", "cannot be an erased concept");
        }
        for (int i = 0; i < s.Preserve.Count; i++)
        {
            g.Vocabulary.TokenOf(s.Preserve[i], $"preserve[{i}]");
            if (s.Concepts.Contains(s.Preserve[i])) throw new InvalidInputException($"preserve[{i}]", "cannot be erased and preserved");
        }
    }

    /// <summary>Applies a plan to every cross-attention W_k and W_v in place.</summary>
    public static void Apply(ConceptGenerator g, EditPlan plan, ClosedFormOptions closedForm)
    {
        using var _ = no_grad();
        foreach (var layer in g.Model.CrossAttentions)
            foreach (var w in new[] { layer.KeyWeight, layer.ValueWeight })
            {
                using var scope = NewDisposeScope();
                var targets = plan.TargetKeys.to(w.device).to_type(w.dtype).matmul(w.t()); // v*_i = W t_i
                var updated = ClosedFormEdit.Solve(w, plan.EraseKeys.to(w.device), targets, plan.PreserveKeys.to(w.device),
                    closedForm.Lambda, closedForm.EraseScale, closedForm.PreserveScale);
                w.copy_(updated);
            }
    }
}
