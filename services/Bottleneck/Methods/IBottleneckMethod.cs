using System.Globalization;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Concepts;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Bottleneck.Methods;

/// <summary>
/// What a bottleneck model trains on (all tensors on one device, validated by the service):
/// features [N, D] float32, labels [N] int64 in [0, C); optional per-row concept truth
/// [N, K] in [0, 1]; optional concept directions [K, D] (dictionary atoms or text embeddings);
/// optional class text embeddings [C, D]; optional held-out rows (used for choices along a path).
/// </summary>
public sealed record BottleneckData(
    Tensor Features,
    Tensor Labels,
    IReadOnlyList<string> ClassNames,
    IReadOnlyList<string> ConceptNames,
    Tensor? ConceptLabels = null,
    Tensor? ConceptBank = null,
    Tensor? ClassEmbeddings = null,
    long Seed = 0,
    Tensor? EvalFeatures = null,
    Tensor? EvalLabels = null)
{
    /// <summary>Optional held-out concept truth [M, K] (scored, never trained on).</summary>
    public Tensor? EvalConceptLabels { get; init; }
    public int Classes => ClassNames.Count;
    public int InputDim => (int)Features.shape[1];
}

/// <summary>A trained model and the numbers measured while training it.</summary>
public sealed record BottleneckFit(ConceptModel Model, Dictionary<string, double> Metrics);

/// <summary>One hyper-parameter: name, default, meaning.</summary>
public sealed record OptionSpec(string Name, string Default, string Description);

/// <summary>Reports training progress (phase, done, total).</summary>
public delegate void FitProgress(string phase, long done, long total);

/// <summary>
/// One kind of bottleneck model (sklearn-like: hyper-parameters in, a fitted
/// <see cref="ConceptModel"/> out). A new model type is one file implementing this plus one line
/// in <see cref="BottleneckMethods"/>.
/// </summary>
public interface IBottleneckMethod
{
    /// <summary>Registry name (TrainConfig.model_type).</summary>
    string Name { get; }
    /// <summary>What it does, with its formula.</summary>
    string Description { get; }
    /// <summary>The paper it follows.</summary>
    string Paper { get; }
    bool RequiresConceptLabels { get; }
    bool RequiresConceptBank { get; }
    IReadOnlyList<OptionSpec> Options { get; }

    /// <summary>Fits the model. Throws <see cref="InvalidInputException"/> for unusable input.</summary>
    BottleneckFit Fit(BottleneckData data, MethodOptions options, FitProgress progress, CancellationToken ct);
}

/// <summary>The registry: one line per model type.</summary>
public static class BottleneckMethods
{
    public static readonly IReadOnlyList<IBottleneckMethod> All =
    [
        new LinearProbe(),
        new ConceptBottleneckModel(),
        new PosthocCbm(),
        new PosthocCbmHybrid(),
        new SparseConceptProbe(),
        new SparseCbm(),
        new ConceptMatrixSearch(),
    ];

    public static IBottleneckMethod Get(string name, string field = "config.model_type") =>
        All.FirstOrDefault(m => m.Name == name)
        ?? throw new InvalidInputException(field, $"unknown model type '{name}'; known: {string.Join(", ", All.Select(m => m.Name))}");
}

/// <summary>Typed, validated access to a method's options (unknown names and bad values are bad input).</summary>
public sealed class MethodOptions
{
    readonly IReadOnlyDictionary<string, string> _given;
    readonly Dictionary<string, OptionSpec> _specs;

    public MethodOptions(IReadOnlyDictionary<string, string> given, IReadOnlyList<OptionSpec> specs)
    {
        _given = given;
        _specs = specs.ToDictionary(s => s.Name);
        foreach (var k in given.Keys)
            if (!_specs.ContainsKey(k))
                throw new InvalidInputException($"config.options[{k}]", $"unknown option; known: {string.Join(", ", specs.Select(s => s.Name))}");
    }

    string Raw(string name) => _given.TryGetValue(name, out var v) ? v : _specs[name].Default;

    public double Double(string name, double min = double.NegativeInfinity, double max = double.PositiveInfinity)
    {
        var raw = Raw(name);
        if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v))
            throw new InvalidInputException($"config.options[{name}]", $"'{raw}' is not a finite number");
        if (v < min || v > max) throw new InvalidInputException($"config.options[{name}]", $"{v} is outside [{min}, {max}]");
        return v;
    }

    public int Int(string name, int min = int.MinValue, int max = int.MaxValue)
    {
        var raw = Raw(name);
        if (!int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            throw new InvalidInputException($"config.options[{name}]", $"'{raw}' is not an integer");
        if (v < min || v > max) throw new InvalidInputException($"config.options[{name}]", $"{v} is outside [{min}, {max}]");
        return v;
    }

    public string Choice(string name, params string[] allowed)
    {
        var raw = Raw(name);
        if (!allowed.Contains(raw)) throw new InvalidInputException($"config.options[{name}]", $"'{raw}' is not one of {string.Join(", ", allowed)}");
        return raw;
    }

    /// <summary>The options as given plus defaults (stored in the model spec).</summary>
    public Dictionary<string, string> Resolved() => _specs.Keys.ToDictionary(k => k, Raw);
}

/// <summary>Small helpers the model types share to assemble a <see cref="ConceptModel"/>.</summary>
public static class ModelParts
{
    /// <summary>Identity normalization [D] (zeros, ones).</summary>
    public static (Tensor Mean, Tensor Scale) Identity(long width, Device device) =>
        (zeros(width, device: device), ones(width, device: device));

    public static Tensor? RequireConceptLabels(BottleneckData d, string model)
    {
        if (d.ConceptLabels is null) throw new InvalidInputException("concept_labels", $"model type '{model}' needs a concept_labels block [N, K]");
        return d.ConceptLabels;
    }

    public static Tensor RequireConceptBank(BottleneckData d, string model)
    {
        if (d.ConceptBank is null) throw new InvalidInputException("concept_bank", $"model type '{model}' needs a concept_bank block [K, D]");
        return d.ConceptBank;
    }

    /// <summary>Accuracy of a fitted model on the training rows, and its sparsity.</summary>
    public static void TrainMetrics(ConceptModel model, BottleneckData d, Dictionary<string, double> metrics)
    {
        using var scope = NewDisposeScope();
        using (inference_mode())
        {
            metrics["train_accuracy"] = Fitting.LinearFits.Accuracy(model.Forward(d.Features).Logits, d.Labels);
            var nz = model.HeadWeight.ne(0).sum(1).to(ScalarType.Float32);
            metrics["concepts_per_class_mean"] = nz.mean().item<float>();
            metrics["concepts_per_class_max"] = nz.max().item<float>();
        }
    }

    public static List<string> DefaultNames(string prefix, long count) =>
        Enumerable.Range(0, (int)count).Select(i => $"{prefix}{i}").ToList();
}
