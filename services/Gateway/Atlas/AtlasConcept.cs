namespace ConceptSuite.Gateway.Atlas;

/// <summary>One concept: its name and score, top-activating images, attribution heatmaps over them, importance per class.</summary>
public sealed record AtlasConcept(string Name, double Score, string ScoreName, IReadOnlyList<byte[]> TopImages,
    IReadOnlyList<byte[]> Heatmaps, IReadOnlyList<double> ImportancePerClass)
{
    /// <summary>Other words the namer found, with their cosine similarity, best first.</summary>
    public IReadOnlyList<(string Word, double Similarity)> Alternatives { get; init; } = [];
    /// <summary>The nearest WordNet definition (a sentence-level name): its word, the definition and its cosine similarity; null when the vocabulary has none.</summary>
    public (string Word, string Gloss, double Similarity)? Gloss { get; init; }
    /// <summary>Share of the scanned samples where the concept is present (coefficient &gt; 0); NaN when unknown.</summary>
    public double Prevalence { get; init; } = double.NaN;
    /// <summary>Distribution of the concept's positive coefficients: (log10 lower bin edge, count).</summary>
    public IReadOnlyList<(double Log10, long Count)> Density { get; init; } = [];
    /// <summary>Mean positive importance over classes in the concept model; NaN when not explained.</summary>
    public double Importance { get; init; } = double.NaN;
    /// <summary>Whether the concept can be trusted against ground truth (an explain.trust report); null when the workflow has none.</summary>
    public AtlasTrust? Trust { get; init; }
    /// <summary>For a text feature: its top-activating tokens in their texts, best first.</summary>
    public IReadOnlyList<AtlasText> TopTexts { get; init; } = [];
}

/// <summary>
/// One concept against ground truth: the value it detects best (<paramref name="Matched"/>, with
/// the AUC of its coefficient for it), how many evaluated images rely on it (it is among the top-k
/// concepts the model uses for them), the share of those where the matched value is present
/// (existence), and how much of its activation map falls inside the value's mask (location, over
/// <paramref name="Located"/> image–concept pairs; NaN without masks).
/// </summary>
public sealed record AtlasTrust(string Matched, double Auc, long Relied, double Existence, long Located, double Location)
{
    /// <summary>Location is chance-corrected: (s − a)/(1 − a) per image, a the mask's share of the image (0: a uniform map).</summary>
    public bool ChanceCorrected { get; init; }
}
