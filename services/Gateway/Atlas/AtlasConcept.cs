namespace ConceptSuite.Gateway.Atlas;

/// <summary>One concept: its name and score, top-activating images, attribution heatmaps over them, importance per class.</summary>
public sealed record AtlasConcept(string Name, double Score, string ScoreName, IReadOnlyList<byte[]> TopImages,
    IReadOnlyList<byte[]> Heatmaps, IReadOnlyList<double> ImportancePerClass);
