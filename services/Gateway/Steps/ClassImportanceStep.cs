using System.Text.Json;
using ConceptSuite.Client;
using ConceptSuite.Contracts;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// ExplainService.ClassImportance for every class of a stored bottleneck model: per class c and
/// concept k the mean local importance of k for logit c over the samples of class c (estimator
/// option method: gradient_input — exact for a linear head —, sobol, occlusion, ...), the
/// prevalence (share of the class's samples where the coefficient exceeds presence_threshold),
/// the reliability (share of the samples showing k that belong to c), and the class's strategic
/// cluster graph (option clusters; exemplar rows and dominant concepts). The model's inputs and
/// the explained targets (the true classes) are streamed from the activation artifact; its
/// labels are read by the stage. Stored as a "report" artifact: tensors "importance",
/// "prevalence", "reliability" float32 [C, K]; metadata {"type": "class-importance", "model",
/// "concept_names", "class_names", "clusters": [[{members, exemplars, dominant}]]}.
/// </summary>
public sealed class ClassImportanceStep : IStepExecutor
{
    public string Method => "explain.class-importance";
    public string DefaultStage => "explain";
    public IReadOnlyList<string> Inputs => ["model", "activations"];
    public IReadOnlyList<string> Outputs => ["importance"];
    public IReadOnlyList<string> Options => ["method", "design_size", "seed", "clusters", "presence_threshold", "tensor"];
    public string Description => "Importance, prevalence, reliability and cluster graph of every concept for every class of a bottleneck model (ExplainService.ClassImportance).";

    /// <summary>The importance estimator an explain step's options describe.</summary>
    public static ImportanceSettings Settings(StepContext ctx, string fallback)
    {
        var s = new ImportanceSettings { Method = ctx.Option("method", fallback), Seed = ctx.Int("seed", 0, 0) };
        // design_size is the sobol estimator's option; other estimators have none of that name.
        if (ctx.Int("design_size", 0, 0, 1 << 16) is > 0 and var designSize && s.Method == "sobol") s.Options["design_size"] = designSize.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return s;
    }

    /// <summary>The stored model's concept and class names.</summary>
    public static async Task<BottleneckModelInfo> ModelAsync(StepContext ctx) =>
        await new BottleneckService.BottleneckServiceClient(ctx.Stages.Channel("bottleneck"))
            .GetModelAsync(new GetBottleneckModelRequest { ModelId = ctx.Input("model") }, cancellationToken: ctx.CancellationToken);

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var ct = ctx.CancellationToken;
        var model = await ModelAsync(ctx);
        var source = ctx.Input("activations");
        var tensor = ctx.Option("tensor", "activations");
        var settings = Settings(ctx, "gradient_input");
        int clusters = (int)ctx.Int("clusters", 3, 0, 64);
        double threshold = ctx.Real("presence_threshold", 0);
        int c = model.ClassNames.Count, k = model.ConceptNames.Count;
        var importance = new float[c * k];
        var prevalence = new float[c * k];
        var reliability = new float[c * k];
        var graphs = new List<object>();
        var client = new ExplainService.ExplainServiceClient(ctx.Channel);
        for (int cls = 0; cls < c; cls++)
        {
            using var call = client.ClassImportance(cancellationToken: ct);
            await call.RequestStream.WriteAsync(new ClassImportanceRequest
            {
                Config = new ClassImportanceConfig
                {
                    Importance = settings, ClassIndex = cls, PresenceThreshold = threshold, Clusters = clusters,
                    Artifact = new ArtifactRef { Id = source }, Model = new ArtifactRef { Id = ctx.Input("model"), Kind = "bottleneck" },
                },
            }, ct);
            await ArtifactTransfer.WriteAsync(call.RequestStream, ArtifactTransfer.RenamedAsync(ctx.StoreChannel, source, [(tensor, "inputs"), ("labels", "targets")], ct),
                b => new ClassImportanceRequest { Block = b }, ct, complete: true);
            var r = await call.ResponseAsync;
            for (int j = 0; j < k; j++)
            {
                importance[cls * k + j] = (float)r.Importance[j];
                prevalence[cls * k + j] = (float)r.Prevalence[j];
                reliability[cls * k + j] = (float)r.Reliability[j];
            }
            graphs.Add(r.Clusters.Select(g => new { members = g.Members.Count, exemplars = g.Exemplars.ToArray(), dominant = g.DominantConcepts.ToArray() }).ToArray());
            ctx.Progress(cls + 1, c, "classes", "class importance");
        }
        var meta = JsonSerializer.Serialize(new
        {
            type = "class-importance", model = ctx.Input("model"), activations = source, method = settings.Method,
            concept_names = model.ConceptNames.ToArray(), class_names = model.ClassNames.ToArray(), clusters = graphs,
        });
        var blocks = HostTensor.FromFloats(importance, c, k).ToBlocks("importance")
            .Concat(HostTensor.FromFloats(prevalence, c, k).ToBlocks("prevalence"))
            .Concat(HostTensor.FromFloats(reliability, c, k).ToBlocks("reliability"));
        var stored = await ArtifactTransfer.PutAsync(ctx.StoreChannel, "report", meta,
            new Dictionary<string, string> { ["producer"] = "gateway/explain.class-importance" }, ArtifactTransfer.AsAsync(blocks, ct), ct);
        // Concepts a class relies on: positive mean importance for its own logit.
        double used = Enumerable.Range(0, c).Average(cls => Enumerable.Range(0, k).Count(j => importance[cls * k + j] > 0));
        return new StepResult(new Dictionary<string, ArtifactRef> { ["importance"] = stored.Ref },
            new Dictionary<string, double> { ["classes"] = c, ["concepts"] = k, ["concepts_used_per_class"] = used });
    }
}
