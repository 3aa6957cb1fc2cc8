using System.Text.Json;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Methods;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// The workflow's summary, made in the gateway from what earlier steps stored: the dictionary's
/// fit (r2, l0, dead_fraction from DiscoveryService.GetDictionary), the held-out accuracy of each
/// bottleneck model given (BottleneckService.GetModel: eval_accuracy, concepts per class), the
/// fidelity report's completeness and deletion/insertion areas, and the top named concepts — ranked by global importance, the
/// mean over classes of the class-importance report's positive importance, each with its name,
/// naming similarity and the class that relies on it most. Stored as a "report" artifact:
/// tensor "global_importance" float32 [K]; metadata {"type": "summary", "accuracy",
/// "dictionary", "top_concepts": [{concept, name, similarity, importance, class}]}.
/// </summary>
public sealed class ReportStep(ReportStep.Options options) : IStepExecutor
{
    /// <summary>The step's options, parsed once against <see cref="Schema"/>.</summary>
    public sealed record Options(int Top)
    {
        public static readonly IReadOnlyList<OptionSpec> Schema =
        [
            OptionSpec.Int("top", 10, "named concepts listed", 1, 1000),
        ];

        public static Options From(OptionValues o) => new(o.Int("top"));
    }

    public sealed record TopConcept(int Concept, string Name, double Similarity, double Importance, string Class);

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var ct = ctx.CancellationToken;
        int top = options.Top;
        var metrics = new Dictionary<string, double>();

        using (var d = new DiscoveryService.DiscoveryServiceClient(ctx.Stages.Channel("discovery")).GetDictionary(
            new GetDictionaryRequest { Dictionary = new DictionaryRef { Artifact = new ArtifactRef { Id = ctx.Input("dictionary"), Kind = "dictionary" } } }, cancellationToken: ct))
        {
            if (await d.ResponseStream.MoveNext(ct) && d.ResponseStream.Current.Info is { } info)
                foreach (var m in new[] { "r2", "l0", "dead_fraction", "val_r2", "val_l0" })
                    if (info.Metrics.TryGetValue(m, out var v)) metrics["dictionary_" + m] = v;
        }

        var accuracy = new Dictionary<string, double>();
        var bottleneck = new BottleneckService.BottleneckServiceClient(ctx.Stages.Channel("bottleneck"));
        foreach (var input in new[] { "probe", "sparse_probe", "pcbm_h" })
        {
            if (ctx.OptionalInput(input) is not { } id) continue;
            var model = await bottleneck.GetModelAsync(new GetBottleneckModelRequest { Model = new ArtifactRef { Id = id } }, cancellationToken: ct);
            if (model.Metrics.TryGetValue("eval_accuracy", out var acc)) { metrics[input + "_accuracy"] = acc; accuracy[input] = acc; }
            if (model.Metrics.TryGetValue("concepts_per_class_max", out var per)) metrics[input + "_concepts_per_class"] = per;
            if (model.Metrics.TryGetValue("pcbm_train_accuracy", out var pcbm)) metrics[input + "_concepts_only_train_accuracy"] = pcbm;
        }
        if (accuracy.TryGetValue("probe", out var probe))
            foreach (var (name, acc) in accuracy.Where(kv => kv.Key != "probe").ToList())
                metrics[name + "_gap_to_probe"] = probe - acc;

        if (ctx.OptionalInput("fidelity") is { } fid)
        {
            var info = await ArtifactTransfer.InfoAsync(ctx.StoreChannel, fid, ct);
            using var doc = JsonDocument.Parse(info.MetadataJson);
            if (doc.RootElement.TryGetProperty("metrics", out var fm) && fm.ValueKind == JsonValueKind.Object)
                foreach (var m in new[] { "completeness", "deletion_area", "insertion_area", "mu_fidelity" })
                    if (fm.TryGetProperty(m, out var v) && v.ValueKind == JsonValueKind.Number) metrics[m] = v.GetDouble();
        }

        var names = await ArtifactTransfer.InfoAsync(ctx.StoreChannel, ctx.Input("names"), ct);
        var words = StepMetadata.Strings(names.MetadataJson, "names");
        var similarity = StepMetadata.Numbers(names.MetadataJson, "similarity");
        var (impInfo, imp) = await ArtifactTransfer.ReadSmallAsync(ctx.StoreChannel, ctx.Input("importance"), ["importance"], ct);
        var table = imp["importance"];
        int c = (int)table.Shape[0], k = (int)table.Shape[1];
        var values = table.Span<float>().ToArray();
        var classes = StepMetadata.Strings(impInfo.MetadataJson, "class_names");
        var global = new float[k];
        for (int j = 0; j < k; j++) global[j] = (float)Enumerable.Range(0, c).Average(i => Math.Max(0, values[i * k + j]));
        var ranked = Enumerable.Range(0, k).Where(j => global[j] > 0).OrderByDescending(j => global[j]).ThenBy(j => j).Take(top).Select(j =>
        {
            int best = Enumerable.Range(0, c).OrderByDescending(i => values[i * k + j]).First();
            return new TopConcept(j, j < words.Count ? words[j] : $"concept {j}", j < similarity.Count ? similarity[j] : double.NaN, global[j],
                best < classes.Count ? classes[best] : best.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }).ToList();
        metrics["named_concepts"] = words.Count;
        metrics["distinct_names"] = words.Distinct(StringComparer.Ordinal).Count();
        metrics["important_concepts"] = global.Count(g => g > 0);

        var meta = JsonSerializer.Serialize(new
        {
            type = "summary", accuracy, dictionary = metrics.Where(kv => kv.Key.StartsWith("dictionary_", StringComparison.Ordinal)).ToDictionary(),
            top_concepts = ranked.Select(t => new { concept = t.Concept, name = t.Name, similarity = double.IsFinite(t.Similarity) ? t.Similarity : 0, importance = t.Importance, @class = t.Class }),
        });
        var stored = await ArtifactTransfer.PutAsync(ctx.StoreChannel, "report", meta,
            new Dictionary<string, string> { ["producer"] = "gateway/gateway.report" },
            ArtifactTransfer.AsAsync(HostTensor.FromFloats(global, k).ToBlocks("global_importance", ctx.BlockBytes), ct), ct);
        return new StepResult(new Dictionary<string, ArtifactRef> { ["report"] = stored.Ref }, metrics);
    }

    /// <summary>The top concepts of a summary report's metadata.</summary>
    public static List<TopConcept> TopConcepts(string metadataJson)
    {
        using var doc = JsonDocument.Parse(metadataJson);
        if (!doc.RootElement.TryGetProperty("top_concepts", out var a) || a.ValueKind != JsonValueKind.Array) return [];
        return a.EnumerateArray().Select(e => new TopConcept(e.GetProperty("concept").GetInt32(), e.GetProperty("name").GetString() ?? "",
            e.GetProperty("similarity").GetDouble(), e.GetProperty("importance").GetDouble(), e.GetProperty("class").GetString() ?? "")).ToList();
    }
}
