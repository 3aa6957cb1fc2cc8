namespace ConceptSuite.Generate.Editing;

/// <summary>What to erase and what to keep (the eraser's own options come through its constructor).</summary>
public sealed record EraseSpec
{
    /// <summary>Concept words to erase.</summary>
    public IReadOnlyList<string> Concepts { get; init; } = [];
    /// <summary>Per erased concept, the concept it is mapped to; empty or "" maps to the neutral (empty) prompt.</summary>
    public IReadOnlyList<string> Targets { get; init; } = [];
    /// <summary>Concepts whose keys and values must not move; empty: every concept not erased, plus BOS.</summary>
    public IReadOnlyList<string> Preserve { get; init; } = [];
    /// <summary>Seed of the request (RealEra's neighbour and beyond samples).</summary>
    public int Seed { get; init; }
}
