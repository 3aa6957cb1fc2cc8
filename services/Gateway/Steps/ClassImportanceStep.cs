using System.Text.Json;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Methods;

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
public sealed class ClassImportanceStep(ClassImportanceStep.Options options) : IStepExecutor
{
    /// <summary>The step's options, parsed once against <see cref="Schema"/>.</summary>
    public sealed record Options(string Method, int DesignSize, long Seed, int Clusters, double PresenceThreshold, string Tensor)
    {
        public static readonly IReadOnlyList<OptionSpec> Schema =
        [
            OptionSpec.Text("method", "gradient_input", "the importance estimator (gradient_input, sobol, occlusion, ...; checked by the stage)"),
            OptionSpec.Int("design_size", 0, "estimator design size (0: the estimator's default)", 0, 1 << 16),
            OptionSpec.Int("seed", 0, "random seed", 0),
            OptionSpec.Int("clusters", 3, "clusters of the strategic cluster graph per class", 0, 64),
            OptionSpec.Float("presence_threshold", 0, "a concept is present in a sample when its coefficient exceeds this"),
            OptionSpec.Text("tensor", "activations", "the activation tensor of the input artifact"),
        ];

        public static Options From(OptionValues o) => new(o.Text("method"), o.Int("design_size"), o.Long("seed"), o.Int("clusters"), o.Float("presence_threshold"), o.Text("tensor"));
    }

    /// <summary>The importance estimator an explain step's options describe.</summary>
    public static ImportanceSettings Settings(string method, int designSize, long seed)
    {
        var s = new ImportanceSettings { Method = method, Seed = seed };
        // design_size is the sobol estimator's option; other estimators have none of that name.
        if (designSize > 0 && method == "sobol") s.Options["design_size"] = designSize.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return s;
    }

    /// <summary>The stored model's concept and class names.</summary>
    public static async Task<BottleneckModelInfo> ModelAsync(StepContext ctx) =>
        await new BottleneckService.BottleneckServiceClient(ctx.Stages.Channel("bottleneck"))
            .GetModelAsync(new GetBottleneckModelRequest { Model = new ArtifactRef { Id = ctx.Input("model") } }, cancellationToken: ctx.CancellationToken);

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var ct = ctx.CancellationToken;
        var model = await ModelAsync(ctx);
        var source = ctx.Input("activations");
        var tensor = options.Tensor;
        var settings = Settings(options.Method, options.DesignSize, options.Seed);
        int clusters = options.Clusters;
        double threshold = options.PresenceThreshold;
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
        var blocks = HostTensor.FromFloats(importance, c, k).ToBlocks("importance", ctx.BlockBytes)
            .Concat(HostTensor.FromFloats(prevalence, c, k).ToBlocks("prevalence", ctx.BlockBytes))
            .Concat(HostTensor.FromFloats(reliability, c, k).ToBlocks("reliability", ctx.BlockBytes));
        var stored = await ArtifactTransfer.PutAsync(ctx.StoreChannel, "report", meta,
            new Dictionary<string, string> { ["producer"] = "gateway/explain.class-importance" }, ArtifactTransfer.AsAsync(blocks, ct), ct);
        // Concepts a class relies on: positive mean importance for its own logit.
        double used = Enumerable.Range(0, c).Average(cls => Enumerable.Range(0, k).Count(j => importance[cls * k + j] > 0));
        return new StepResult(new Dictionary<string, ArtifactRef> { ["importance"] = stored.Ref },
            new Dictionary<string, double> { ["classes"] = c, ["concepts"] = k, ["concepts_used_per_class"] = used });
    }
}
