namespace ConceptSuite.Embedding.Models;

/// <summary>A named layer output. <paramref name="Shape"/> is per row (no batch dimension).</summary>
public sealed record TapSpec(string Name, long[] Shape, string Source)
{
    /// <summary>"vector" [D], "spatial" [C, H, W] or "tokens" [T, D].</summary>
    public string Layout => Shape.Length switch { 1 => "vector", 2 => "tokens", 3 => "spatial", _ => $"rank{Shape.Length}" };
}
