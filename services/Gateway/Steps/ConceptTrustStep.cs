using System.Text.Json;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Methods;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// ExplainService.ConceptTrust of a concept bottleneck on discovered concepts, against a data
/// set's ground truth (concept-shapes: one label and one pixel mask per factor value). Each concept
/// (a column of the model's inputs, e.g. a dictionary's codes) is matched to the ground-truth value
/// its coefficient detects best (ROC AUC); existence asks whether the concepts the model relies on
/// (each sample's top_k by importance, or its class's with class_level) are in the image, location
/// whether their activation maps — the dictionary atoms on the spatial activations of the same
/// images — fall on the matched value's mask (the paper's form, or over every relied-on pair and
/// chance-corrected by mask area, as the options ask). Inputs: model (the bottleneck), codes (its
/// inputs on the evaluated images, with labels), dataset (those images' ground truth), spatial
/// (the backbone's spatial activations [N, D, h, w] of the same images), dictionary (atoms [K, D]
/// in the spatial tap's channels). Stored as a "report" artifact: tensors "global_importance"
/// float32 [C, K], "existence" and "location" float32 [K]; metadata {"type": "concept-trust",
/// "existence", "location", per concept "matched" (value name), "auc", "relied", "located",
/// "concept_names", "class_names", the options}.
/// </summary>
public sealed class ConceptTrustStep(ConceptTrustStep.Options options) : IStepExecutor
{
    /// <summary>The step's options, parsed once against <see cref="Schema"/>.</summary>
    public sealed record Options(string Method, int DesignSize, long Seed, int TopK, bool ClassLevel, bool AllRelied, bool ChanceCorrected, string Tensor)
    {
        public static readonly IReadOnlyList<OptionSpec> Schema =
        [
            OptionSpec.Text("method", "gradient_input", "the importance estimator that ranks the concepts (checked by the stage)"),
            OptionSpec.Int("design_size", 0, "estimator design size (0: the estimator's default)", 0, 1 << 16),
            OptionSpec.Int("seed", 0, "random seed", 0),
            OptionSpec.Int("top_k", 3, "concepts per sample checked (the top-k by importance)", 1, 1 << 16),
            OptionSpec.Bool("class_level", true, "check each sample's class-level top-k concepts (what the model relies on for the class) instead of its own"),
            OptionSpec.Bool("location_all_relied", false, "location over every (sample, top-k concept) pair, an absent concept scoring 0"),
            OptionSpec.Bool("location_chance_corrected", false, "location per pair (s − a)/(1 − a), a the mask's share of the image"),
            OptionSpec.Text("tensor", "activations", "the tensor of the codes input the model reads, and of the spatial input"),
        ];

        public static Options From(OptionValues o) => new(o.Text("method"), o.Int("design_size"), o.Long("seed"), o.Int("top_k"), o.Bool("class_level"),
            o.Bool("location_all_relied"), o.Bool("location_chance_corrected"), o.Text("tensor"));
    }

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var ct = ctx.CancellationToken;
        var model = await ClassImportanceStep.ModelAsync(ctx);
        string codes = ctx.Input("codes"), dataset = ctx.Input("dataset"), spatial = ctx.Input("spatial"), dictionary = ctx.Input("dictionary");
        var (_, rows) = await ArtifactTransfer.SourceAsync(ctx.StoreChannel, codes, options.Tensor, $"steps.{ctx.Step}.inputs.codes", ct);
        var data = await ArtifactTransfer.InfoAsync(ctx.StoreChannel, dataset, ct);
        var truth = data.Tensors.FirstOrDefault(t => t.Name == "concept_labels");
        var masks = data.Tensors.FirstOrDefault(t => t.Name == "concept_masks");
        if (truth is null || masks is null)
            throw new InvalidInputException($"steps.{ctx.Step}.inputs.dataset", $"data set {dataset[..12]} has no ground-truth concept_labels and concept_masks (concept-shapes has them)");
        if (truth.Shape[0] != rows)
            throw new InvalidInputException($"steps.{ctx.Step}.inputs.dataset", $"has {truth.Shape[0]} images, the codes {rows} rows: give the images the codes were computed on");
        var (_, spatialRows) = await ArtifactTransfer.SpatialSourceAsync(ctx.StoreChannel, spatial, options.Tensor, $"steps.{ctx.Step}.inputs.spatial", ct);
        if (spatialRows != rows)
            throw new InvalidInputException($"steps.{ctx.Step}.inputs.spatial", $"has {spatialRows} rows, the codes {rows}");
        int k = model.ConceptNames.Count;
        if (options.TopK > k) throw new InvalidInputException(ctx.OptionField("top_k"), $"must be at most the model's {k} concepts, got {options.TopK}");

        var valueNames = StepMetadata.Strings(data.MetadataJson, "concept_names");
        using var call = new ExplainService.ExplainServiceClient(ctx.Channel).ConceptTrust(cancellationToken: ct);
        await call.RequestStream.WriteAsync(new ConceptTrustRequest
        {
            Config = new ConceptTrustConfig
            {
                Importance = ClassImportanceStep.Settings(options.Method, options.DesignSize, options.Seed), TopK = options.TopK,
                ClassLevel = options.ClassLevel, Classes = model.ClassNames.Count, MatchGroundTruth = true,
                LocationAllRelied = options.AllRelied, LocationChanceCorrected = options.ChanceCorrected,
                Model = new ArtifactRef { Id = ctx.Input("model"), Kind = "bottleneck" },
            },
        }, ct);
        var blocks = ArtifactTransfer.RenamedAsync(ctx.StoreChannel, codes, [(options.Tensor, "inputs"), ("labels", "targets"), ("labels", "labels")], ct)
            .Concat(ArtifactTransfer.RenamedAsync(ctx.StoreChannel, dataset, [("concept_labels", "concept_labels"), ("concept_masks", "concept_masks")], ct))
            .Concat(ArtifactTransfer.RenamedAsync(ctx.StoreChannel, spatial, [(options.Tensor, "activations")], ct))
            .Concat(ArtifactTransfer.AtomsAsync(ctx.Stages.Invoker("discovery"), dictionary, "dictionary", ct));
        await ArtifactTransfer.WriteAsync(call.RequestStream, blocks, b => new ConceptTrustRequest { Block = b }, ct, complete: true);
        var r = await call.ResponseAsync;

        double location = r.Location ?? double.NaN;
        var matched = r.MatchedValue.Select(v => v >= 0 && v < valueNames.Count ? valueNames[(int)v] : $"value {v}").ToArray();
        var meta = JsonSerializer.Serialize(new
        {
            type = "concept-trust", model = ctx.Input("model"), codes, dataset, spatial, dictionary,
            top_k = options.TopK, class_level = options.ClassLevel, location_all_relied = options.AllRelied, location_chance_corrected = options.ChanceCorrected,
            existence = r.Existence, location, matched, auc = r.MatchedAuc.ToArray(), relied = r.ConceptRelied.ToArray(), located = r.ConceptLocated.ToArray(),
            concept_names = model.ConceptNames.ToArray(), class_names = model.ClassNames.ToArray(),
        });
        var gi = r.GlobalImportance;
        var giValues = gi.Dtype == DType.Float64
            ? System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(gi.Data.Span).ToArray().Select(v => (float)v).ToArray()
            : throw new InvalidOperationException($"global importance arrived as {gi.Dtype}");
        var stored = await ArtifactTransfer.PutAsync(ctx.StoreChannel, "report", meta, new Dictionary<string, string> { ["producer"] = "gateway/explain.trust" },
            ArtifactTransfer.AsAsync(HostTensor.FromFloats(giValues, gi.Shape.ToArray()).ToBlocks("global_importance", ctx.BlockBytes)
                .Concat(HostTensor.FromFloats(r.ConceptExistence.Select(v => (float)v).ToArray(), r.ConceptExistence.Count).ToBlocks("existence", ctx.BlockBytes))
                .Concat(HostTensor.FromFloats(r.ConceptLocation.Select(v => (float)v).ToArray(), r.ConceptLocation.Count).ToBlocks("location", ctx.BlockBytes)), ct), ct);
        var wellMatched = r.MatchedAuc.Count(a => a >= 0.9);
        var metrics = new Dictionary<string, double>
        {
            ["existence"] = r.Existence, ["concepts"] = k, ["well_matched"] = wellMatched,
            ["mean_matched_auc"] = r.MatchedAuc.Count > 0 ? r.MatchedAuc.Average() : double.NaN,
        };
        if (double.IsFinite(location)) metrics["location"] = location;
        return new StepResult(new Dictionary<string, ArtifactRef> { ["report"] = stored.Ref }, metrics);
    }
}
