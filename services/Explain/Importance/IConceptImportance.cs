using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Importance;

/// <summary>
/// A concept importance estimator: for coefficients U [N, K] and a target class per sample, the
/// importance φ [N, K] of each concept for that sample's target logit. One entry point.
/// </summary>
public interface IConceptImportance
{
    string Name { get; }
    Tensor Explain(IConceptHead head, Tensor coefficients, long[] targets);
}

/// <summary>Options of the estimators (each reads the ones it needs).</summary>
public sealed record ImportanceOptions
{
    /// <summary>Sobol: rows of the sampling design per repeat.</summary>
    public int DesignSize { get; init; } = 64;
    /// <summary>Sobol: independent designs averaged.</summary>
    public int Repeats { get; init; } = 1;
    /// <summary>Sobol: "sobol" or "halton" (quasi-Monte-Carlo), "latin_hypercube", or "random".</summary>
    public string Design { get; init; } = "sobol";
    /// <summary>Integrated gradients: points on the path.</summary>
    public int Steps { get; init; } = 32;
    /// <summary>RISE: number of random masks.</summary>
    public int Masks { get; init; } = 512;
    /// <summary>RISE: probability that a concept is kept.</summary>
    public double KeepProbability { get; init; } = 0.5;
    public long Seed { get; init; } = 0;
}

/// <summary>The registry: a new estimator is one file and one line here.</summary>
public static class ConceptImportances
{
    static readonly Dictionary<string, Func<ImportanceOptions, IConceptImportance>> Factories = new()
    {
        ["sobol"] = o => new SobolTotalIndex(o.DesignSize, o.Repeats, MaskDesigns.Create(o.Design), o.Seed),
        ["gradient_input"] = _ => new GradientInput(),
        ["integrated_gradients"] = o => new IntegratedGradients(o.Steps),
        ["occlusion"] = _ => new Occlusion(),
        ["rise"] = o => new Rise(o.Masks, o.KeepProbability, o.Seed),
    };

    public static IReadOnlyList<string> Names => Factories.Keys.ToList();

    public static IConceptImportance Create(string name, ImportanceOptions? options = null, string field = "method")
    {
        if (!Factories.TryGetValue(name, out var f))
            throw new Contracts.InvalidInputException(field, $"unknown importance estimator '{name}'; known: {string.Join(", ", Factories.Keys)}");
        return f(options ?? new ImportanceOptions());
    }

    /// <summary>Checks coefficients [N, K] against the head and targets against its classes.</summary>
    public static Tensor Check(IConceptHead head, Tensor coefficients, long[] targets)
    {
        var u = ExplainTensors.Matrix(coefficients, "coefficients");
        if (u.shape[1] != head.Concepts)
            throw new Contracts.InvalidInputException("coefficients", $"has {u.shape[1]} concepts, the head takes {head.Concepts}");
        if (targets.Length != u.shape[0])
            throw new Contracts.InvalidInputException("targets", $"has {targets.Length} entries for {u.shape[0]} samples");
        foreach (var t in targets)
            if (t < 0 || t >= head.Classes) throw new Contracts.InvalidInputException("targets", $"class {t} is outside [0, {head.Classes})");
        return u;
    }

    /// <summary>The target logit of each row: f [M] from logits [M, C] and a target per row.</summary>
    public static Tensor TargetLogit(IConceptHead head, Tensor u, long target) => head.Forward(u).select(1, target);
}
