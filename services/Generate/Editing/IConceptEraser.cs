using InvalidInputException = ConceptSuite.Contracts.InvalidInputException;
using ConceptSuite.Generate.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Generate.Editing;

/// <summary>What to erase and what to keep.</summary>
public sealed record EraseSpec
{
    /// <summary>Concept words to erase.</summary>
    public IReadOnlyList<string> Concepts { get; init; } = [];
    /// <summary>Per erased concept, the concept it is mapped to; empty or "" maps to the neutral (empty) prompt.</summary>
    public IReadOnlyList<string> Targets { get; init; } = [];
    /// <summary>Concepts whose keys and values must not move; empty: every concept not erased, plus BOS.</summary>
    public IReadOnlyList<string> Preserve { get; init; } = [];
    /// <summary>λ: the pull towards the old weights.</summary>
    public double Lambda { get; init; } = 0.1;
    public double EraseScale { get; init; } = 1.0;
    public double PreserveScale { get; init; } = 1.0;
    /// <summary>RealEra neighbour samples per erased concept (0 for plain UCE).</summary>
    public int NeighbourSamples { get; init; } = 16;
    /// <summary>Neighbour radius relative to ‖c‖.</summary>
    public double NeighbourRadius { get; init; } = 0.3;
    /// <summary>Beyond-concept samples per erased concept, kept unchanged (radius 2–3× the neighbour radius).</summary>
    public int BeyondSamples { get; init; } = 16;
    /// <summary>
    /// Weight of all neighbour samples of one concept together, relative to the concept's own key
    /// (each sample weighs NeighbourWeight / NeighbourSamples), so the neighbourhood regularises the
    /// edit instead of outvoting the concept itself.
    /// </summary>
    public double NeighbourWeight { get; init; } = 1.0;
    /// <summary>Weight of all beyond-concept samples of one concept together (each weighs BeyondWeight / BeyondSamples).</summary>
    public double BeyondWeight { get; init; } = 1.0;
    /// <summary>Vocabulary concepts with cosine ≥ this to an erased concept are mined as associated and erased too.</summary>
    public double AssociationThreshold { get; init; } = 0.9;
    public int Seed { get; init; }
}

/// <summary>The edit to apply to every cross-attention key/value projection.</summary>
/// <param name="EraseKeys">c_i [n_e, D].</param>
/// <param name="TargetKeys">the embeddings whose projections are the targets, v*_i = W t_i [n_e, D].</param>
/// <param name="PreserveKeys">c_j [n_p, D].</param>
/// <param name="MinedConcepts">vocabulary concepts added to the erase set by mining.</param>
public sealed record EditPlan(Tensor EraseKeys, Tensor TargetKeys, Tensor PreserveKeys, IReadOnlyList<string> ErasedConcepts,
    IReadOnlyList<string> PreservedConcepts, IReadOnlyList<string> MinedConcepts, int NeighbourKeys, int BeyondKeys);

/// <summary>A concept-erasure method: turns a spec into key sets for the closed-form edit.</summary>
public interface IConceptEraser
{
    string Name { get; }
    EditPlan Plan(ConceptGenerator generator, EraseSpec spec);
}

/// <summary>Erasure methods by name: a new method is one file plus one line here.</summary>
public static class ConceptErasers
{
    public static readonly IReadOnlyDictionary<string, IConceptEraser> All = new Dictionary<string, IConceptEraser>
    {
        ["uce"] = new UnifiedConceptEditing(),
        ["realera"] = new RealEra(),
    };

    public static IConceptEraser Get(string name, string field = "method") =>
        All.TryGetValue(string.IsNullOrEmpty(name) ? "realera" : name, out var m) ? m
            : throw new InvalidInputException(field, $"unknown erase method '{name}'; known: {string.Join(", ", All.Keys)}");

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
        if (!(s.Lambda > 0) || s.Lambda > 1e6) throw new InvalidInputException("lambda", "must be in (0, 1e6]");
        if (s.EraseScale is <= 0 or > 1e6) throw new InvalidInputException("erase_scale", "must be in (0, 1e6]");
        if (s.PreserveScale is < 0 or > 1e6) throw new InvalidInputException("preserve_scale", "must be in [0, 1e6]");
        if (s.NeighbourSamples is < 0 or > 1024) throw new InvalidInputException("neighbour_samples", "must be in [0, 1024]");
        if (s.BeyondSamples is < 0 or > 1024) throw new InvalidInputException("beyond_samples", "must be in [0, 1024]");
        if (s.NeighbourRadius is < 0 or > 10) throw new InvalidInputException("neighbour_radius", "must be in [0, 10]");
        if (s.NeighbourWeight is < 0 or > 1e6 || double.IsNaN(s.NeighbourWeight)) throw new InvalidInputException("neighbour_weight", "must be in [0, 1e6]");
        if (s.BeyondWeight is < 0 or > 1e6 || double.IsNaN(s.BeyondWeight)) throw new InvalidInputException("beyond_weight", "must be in [0, 1e6]");
        if (s.AssociationThreshold is < -1 or > 1) throw new InvalidInputException("association_threshold", "must be in [-1, 1]");
    }

    /// <summary>Applies a plan to every cross-attention W_k and W_v in place.</summary>
    public static void Apply(ConceptGenerator g, EditPlan plan, EraseSpec spec)
    {
        using var _ = no_grad();
        foreach (var layer in g.Model.CrossAttentions)
            foreach (var w in new[] { layer.KeyWeight, layer.ValueWeight })
            {
                using var scope = NewDisposeScope();
                var targets = plan.TargetKeys.to(w.device).to_type(w.dtype).matmul(w.t()); // v*_i = W t_i
                var updated = ClosedFormEdit.Solve(w, plan.EraseKeys.to(w.device), targets, plan.PreserveKeys.to(w.device),
                    spec.Lambda, spec.EraseScale, spec.PreserveScale);
                w.copy_(updated);
            }
    }
}
