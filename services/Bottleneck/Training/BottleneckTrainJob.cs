using System.Security.Cryptography;
using ConceptSuite.Bottleneck.Fitting;
using ConceptSuite.Bottleneck.Methods;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Concepts;
using ConceptSuite.Core.Jobs;
using ConceptSuite.Core.Limits;
using ConceptSuite.Core.Methods;
using ConceptSuite.Core.Tensors;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Bottleneck.Training;

/// <summary>
/// One Train request: the model type and its options, parsed once from the config; the received
/// tensors checked against the rules in bottleneck.proto (<see cref="Prepare"/>); the fit, the
/// held-out metrics and the stored model (<see cref="Run"/>, the job's work).
/// </summary>
public sealed class BottleneckTrainJob
{
    /// <summary>The tensor names a Train stream may carry.</summary>
    public static readonly string[] Tensors =
        ["features", "labels", "concept_labels", "concept_bank", "class_embeddings", "eval_features", "eval_labels", "eval_concept_labels"];

    readonly MethodEntry<IBottleneckMethod> _entry;
    readonly OptionValues _options;
    readonly BottleneckModels _models;

    /// <summary>Looks the model type up and parses its options (INVALID_ARGUMENT naming config.model_type or config.options.*).</summary>
    public BottleneckTrainJob(TrainConfig config, BottleneckModels models)
    {
        _entry = BottleneckMethods.Family.Get(config.ModelType, "config.model_type");
        _options = OptionValues.Parse(_entry.Options, config.Options, "config");
        _models = models;
        Config = config;
    }

    /// <summary>The request's config (its string hashes into the job key).</summary>
    public TrainConfig Config { get; }

    /// <summary>
    /// Checks the received tensors (reading the features from config.features when named), and
    /// returns the job key and the validated training data on the stage's device.
    /// </summary>
    public (JobKey Key, BottleneckData Data) Prepare(Dictionary<string, Tensor> raw, string stage, RequestBudget budget)
    {
        var config = Config;
        foreach (var name in raw.Keys)
            if (!Tensors.Contains(name)) throw new InvalidInputException("blocks", $"unknown tensor '{name}'; expected one of {string.Join(", ", Tensors)}");
        if (config.Features is { Id.Length: > 0 }) ReadFeaturesArtifact(config, raw);
        var key = JobRunner.KeyFor(config.Job?.JobKey ?? "", [stage, "train", JobRunner.ContentOf(config), .. raw.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + ":" + Hash(kv.Value))]);
        var data = Validate(config, raw, budget);
        _entry.Create(_options).CheckRequest(data, budget);
        return (key, data);
    }

    /// <summary>The job: fits the model, scores the held-out rows, stores the model with its options and metrics.</summary>
    public JobOutcome Run(JobContext ctx, BottleneckData data)
    {
        using var scope = NewDisposeScope();
        ctx.Message($"training {_entry.Name} on {data.Features.shape[0]} rows, D={data.InputDim}, C={data.Classes}, K={data.ConceptNames.Count}");
        var method = _entry.Create(_options);
        var fit = method.Fit(data, (phase, done, total) => ctx.Progress(done, total, "steps", phase), ctx.CancellationToken);
        using var fitted = fit.Model;
        // The spec records every option (defaults included, as parsed) and what the fit resolved ("auto" choices).
        var options = new Dictionary<string, string>(_options.Canonical);
        foreach (var (k, v) in fitted.Spec.Options) options[k] = v;
        var metrics = fit.Metrics;
        using (inference_mode())
        {
            if (data.EvalFeatures is { } ef && data.EvalLabels is { } el)
            {
                var f = fitted.Forward(ef);
                metrics["eval_accuracy"] = LinearFits.Accuracy(f.Logits, el);
                if (data.EvalConceptLabels is { } ec && fitted.Spec.ConceptActivation == ConceptActivations.Sigmoid && ec.shape[1] == fitted.ConceptCount)
                    metrics["eval_concept_accuracy"] = LinearFits.ConceptAccuracy(f.Concepts, ec);
            }
        }
        using var model = new ConceptModel(fitted.Spec with { Options = options, Metrics = metrics }, fitted.Tensors);
        var info = model.SaveAsync(ctx.Store, new Dictionary<string, string> { ["job_key"] = ctx.Key }, ctx.CancellationToken).GetAwaiter().GetResult();
        ctx.Metrics(0, metrics);
        return new JobOutcome(info, metrics);
    }

    /// <summary>Checks every training tensor against the rules in bottleneck.proto and moves them to the stage's device.</summary>
    BottleneckData Validate(TrainConfig config, Dictionary<string, Tensor> raw, RequestBudget budget)
    {
        var device = _models.Device;
        var requires = _entry.Trait(BottleneckMethods.Requires);
        Tensor Float(string name, int rank)
        {
            var t = raw[name];
            if (!t.is_floating_point()) throw new InvalidInputException(name, $"must be a float tensor, got {t.dtype}");
            if (t.dim() != rank) throw new InvalidInputException(name, $"must have rank {rank}, got shape [{string.Join(", ", t.shape)}]");
            return t.to(ScalarType.Float32).to(device);
        }
        Tensor Labels(string name, long rows)
        {
            var t = raw[name];
            if (t.dtype is not (ScalarType.Int64 or ScalarType.Int32) || t.dim() != 1)
                throw new InvalidInputException(name, $"must be int64 [N], got {t.dtype} [{string.Join(", ", t.shape)}]");
            if (t.shape[0] != rows) throw new InvalidInputException(name, $"{t.shape[0]} labels for {rows} feature rows");
            return t.to(ScalarType.Int64).to(device);
        }
        if (!raw.ContainsKey("features")) throw new InvalidInputException("features", "required (a 'features' block stream or config.features)");
        if (!raw.ContainsKey("labels")) throw new InvalidInputException("labels", "required");
        var x = Float("features", 2);
        long n = x.shape[0], dim = x.shape[1];
        if (n < 2) throw new InvalidInputException("features", "needs at least 2 rows");
        var y = Labels("labels", n);
        long maxLabel = y.max().item<long>();
        int implied = budget.Classes("labels", maxLabel, y.min().item<long>());
        budget.Names("config.class_names", config.ClassNames);
        budget.Names("config.concept_names", config.ConceptNames);
        var classNames = config.ClassNames.Count > 0 ? config.ClassNames.ToList() : ModelParts.DefaultNames("", implied);
        if (classNames.Distinct().Count() != classNames.Count) throw new InvalidInputException("config.class_names", "must be unique");
        if (maxLabel >= classNames.Count) throw new InvalidInputException("labels", $"label {maxLabel} is outside [0, {classNames.Count}) (config.class_names has {classNames.Count})");
        if (classNames.Count < 2) throw new InvalidInputException("labels", "needs at least 2 classes");
        var counts = y.bincount(null, classNames.Count).cpu().data<long>().ToArray();
        for (int c = 0; c < counts.Length; c++)
            if (counts[c] == 0) throw new InvalidInputException("labels", $"class '{classNames[c]}' has no samples");

        var conceptNames = config.ConceptNames.ToList();
        if (conceptNames.Distinct(StringComparer.Ordinal).Count() != conceptNames.Count) throw new InvalidInputException("config.concept_names", "must be unique");
        if (conceptNames.Any(string.IsNullOrWhiteSpace)) throw new InvalidInputException("config.concept_names", "names must be non-empty");
        Tensor? conceptLabels = null, bank = null, classEmb = null, ex = null, ey = null, ec = null;
        if (raw.ContainsKey("concept_labels"))
        {
            conceptLabels = Float("concept_labels", 2);
            if (conceptLabels.shape[0] != n) throw new InvalidInputException("concept_labels", $"{conceptLabels.shape[0]} rows for {n} feature rows");
            if (conceptLabels.min().item<float>() < 0 || conceptLabels.max().item<float>() > 1) throw new InvalidInputException("concept_labels", "values are probabilities and must be in [0, 1]");
        }
        if (raw.ContainsKey("concept_bank"))
        {
            bank = Float("concept_bank", 2);
            if (bank.shape[1] != dim) throw new InvalidInputException("concept_bank", $"has width {bank.shape[1]}, the features have {dim}");
        }
        long? k = conceptLabels?.shape[1] ?? bank?.shape[0];
        if (conceptLabels is not null && bank is not null && conceptLabels.shape[1] != bank.shape[0])
            throw new InvalidInputException("concept_bank", $"{bank.shape[0]} directions for {conceptLabels.shape[1]} concept label columns");
        if (k is { } kk && conceptNames.Count != kk)
            throw new InvalidInputException("config.concept_names", $"{conceptNames.Count} names for {kk} concepts");
        if (requires == "concept_labels" && conceptLabels is null) throw new InvalidInputException("concept_labels", $"model type '{_entry.Name}' needs a concept_labels block [N, K]");
        if (requires == "concept_bank" && bank is null) throw new InvalidInputException("concept_bank", $"model type '{_entry.Name}' needs a concept_bank block [K, D]");
        if (raw.ContainsKey("class_embeddings"))
        {
            classEmb = Float("class_embeddings", 2);
            if (classEmb.shape[0] != classNames.Count || classEmb.shape[1] != dim)
                throw new InvalidInputException("class_embeddings", $"must be [{classNames.Count}, {dim}], got [{string.Join(", ", classEmb.shape)}]");
        }
        if (raw.ContainsKey("eval_features") != raw.ContainsKey("eval_labels"))
            throw new InvalidInputException("eval_labels", "eval_features and eval_labels come together");
        if (raw.ContainsKey("eval_features"))
        {
            ex = Float("eval_features", 2);
            if (ex.shape[1] != dim) throw new InvalidInputException("eval_features", $"has width {ex.shape[1]}, the features have {dim}");
            ey = Labels("eval_labels", ex.shape[0]);
            if (ey.numel() > 0 && (ey.min().item<long>() < 0 || ey.max().item<long>() >= classNames.Count))
                throw new InvalidInputException("eval_labels", $"labels must be in [0, {classNames.Count})");
            if (raw.ContainsKey("eval_concept_labels"))
            {
                ec = Float("eval_concept_labels", 2);
                if (ec.shape[0] != ex.shape[0] || (k is { } k2 && ec.shape[1] != k2))
                    throw new InvalidInputException("eval_concept_labels", $"must be [{ex.shape[0]}, {k}], got [{string.Join(", ", ec.shape)}]");
            }
        }
        return new BottleneckData(x, y, classNames, conceptNames, conceptLabels, bank, classEmb, config.Seed, ex, ey) { EvalConceptLabels = ec };
    }

    void ReadFeaturesArtifact(TrainConfig config, Dictionary<string, Tensor> raw)
    {
        if (raw.ContainsKey("features")) throw new InvalidInputException("config.features", "send either a features stream or an artifact, not both");
        using var reader = _models.Store.Open(config.Features.Id, "config.features.id");
        var name = string.IsNullOrEmpty(config.FeaturesTensor) ? "activations" : config.FeaturesTensor;
        if (!reader.Has(name)) throw new InvalidInputException("config.features_tensor", $"artifact {config.Features.Id} has no tensor '{name}'");
        raw["features"] = reader.Read(name).clone();
        if (!raw.ContainsKey("labels"))
        {
            if (!reader.Has("labels")) throw new InvalidInputException("labels", $"not sent and artifact {config.Features.Id} has no 'labels' tensor");
            raw["labels"] = reader.Read("labels").clone();
        }
    }

    static string Hash(Tensor t)
    {
        var c = TensorCodec.Contiguous(t);
        return Convert.ToHexStringLower(SHA256.HashData(c.bytes)) + string.Join(",", c.shape) + c.dtype;
    }
}
