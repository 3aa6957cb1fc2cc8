namespace ConceptSuite.Gateway.Atlas;

/// <summary>Everything one concept atlas shows. Images are PNG bytes; the renderer inlines them.</summary>
public sealed record AtlasModel
{
    public required string Title { get; init; }
    public required string WorkflowId { get; init; }
    /// <summary>One line on the data the concepts are shown on (count, classes, data set id).</summary>
    public string Data { get; init; } = "";
    /// <summary>The workflow's headline figures, in reading order: (label, value, what it means).</summary>
    public IReadOnlyList<(string Label, double Value, string Note)> KeyNumbers { get; init; } = [];
    /// <summary>Per step: name, stage/method, state, key metrics.</summary>
    public IReadOnlyList<AtlasStep> Steps { get; init; } = [];
    /// <summary>Accuracy of each model (probe, concept bottleneck, ...): model name → metric name → value.</summary>
    public IReadOnlyList<AtlasModelScore> Models { get; init; } = [];
    /// <summary>Sparsity–accuracy path of a sparse concept model: (active concepts, accuracy) per regularization.</summary>
    public IReadOnlyList<(double Sparsity, double Accuracy)> SparsityPath { get; init; } = [];
    /// <summary>Fidelity curves (e.g. deletion / insertion): name → (fraction of concepts removed, score).</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<(double X, double Y)>> FidelityCurves { get; init; } = new Dictionary<string, IReadOnlyList<(double, double)>>();
    /// <summary>A few images per class of the data set the concepts are shown on.</summary>
    public IReadOnlyList<(string Class, IReadOnlyList<byte[]> Images)> Samples { get; init; } = [];
    public IReadOnlyList<AtlasConcept> Concepts { get; init; } = [];
    /// <summary>Where the concepts come from ("discovered by topk-sae", "ground truth of concept-shapes").</summary>
    public string ConceptSource { get; init; } = "";
    public IReadOnlyList<string> ClassNames { get; init; } = [];
    /// <summary>Text features: how many latents fire at each log10 rate (lower bin edge, count); empty otherwise.</summary>
    public IReadOnlyList<(double Log10, long Count)> FiringDensity { get; init; } = [];
    /// <summary>Width of the firing-density bins, in log10 units.</summary>
    public double FiringBinLog10 { get; init; } = 0.25;
    /// <summary>Width of the concepts' density bins, in log10 units.</summary>
    public double DensityBinLog10 { get; init; } = 0.25;
}
