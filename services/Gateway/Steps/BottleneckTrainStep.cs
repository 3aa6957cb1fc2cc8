using ConceptSuite.Contracts;
using ConceptSuite.Core.Methods;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// BottleneckService.Train on an activation artifact the stage reads itself
/// (config.features, with its labels). Blocks the gateway streams after the config, each
/// straight from the store: the dictionary's atoms as "concept_bank" [K, D] (input dictionary:
/// PCBM / PCBM-h concept directions, Sparse-CBM init), and the held-out rows of input eval as
/// "eval_features" / "eval_labels" (scored into eval_accuracy). Concept names come from a
/// "concept-names" artifact (input names; repeated words made unique), class names from the
/// features' metadata. Options: model_type (linear_probe, sparse_probe, pcbm_h, ...), options
/// ("name=value;..." checked by the stage), seed, tensor.
/// </summary>
public sealed class BottleneckTrainStep(BottleneckTrainStep.Options options) : IStepExecutor
{
    /// <summary>The step's options, parsed once against <see cref="Schema"/>.</summary>
    public sealed record Options(string ModelType, string MethodOptions, long Seed, string Tensor)
    {
        public static readonly IReadOnlyList<OptionSpec> Schema =
        [
            OptionSpec.Text("model_type", "linear_probe", "the bottleneck model (linear_probe, sparse_probe, pcbm_h, ...; checked by the stage)"),
            OptionSpec.Text("options", "", "the model's options as name=value;name=value (checked by the stage)"),
            OptionSpec.Int("seed", 0, "random seed", 0),
            OptionSpec.Text("tensor", "activations", "the activation tensor of the input artifact"),
        ];

        public static Options From(OptionValues o) => new(o.Text("model_type"), o.Text("options"), o.Long("seed"), o.Text("tensor"));
    }

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var ct = ctx.CancellationToken;
        var features = ctx.Input("features");
        var tensor = options.Tensor;
        var (featuresInfo, _) = await ArtifactTransfer.SourceAsync(ctx.StoreChannel, features, tensor, $"steps.{ctx.Step}.inputs.features", ct);
        var config = new TrainConfig
        {
            ModelType = options.ModelType,
            Features = new ArtifactRef { Id = features },
            FeaturesTensor = tensor,
            Seed = options.Seed,
        };
        foreach (var (k, v) in OptionText.Pairs(options.MethodOptions, ctx.OptionField("options"))) config.Options[k] = v;
        config.ClassNames.AddRange(StepMetadata.Strings(featuresInfo.MetadataJson, "class_names"));
        if (ctx.OptionalInput("names") is { } names)
        {
            var info = await ArtifactTransfer.InfoAsync(ctx.StoreChannel, names, ct);
            config.ConceptNames.AddRange(StepMetadata.Unique(StepMetadata.Strings(info.MetadataJson, "names")));
        }

        using var call = new BottleneckService.BottleneckServiceClient(ctx.Channel).Train(cancellationToken: ct);
        await call.RequestStream.WriteAsync(new TrainRequest { Config = config }, ct);
        if (ctx.OptionalInput("dictionary") is { } dictionary)
            await ArtifactTransfer.WriteAsync(call.RequestStream, ArtifactTransfer.AtomsAsync(ctx.Stages.Invoker("discovery"), dictionary, "concept_bank", ct),
                b => new TrainRequest { Block = b }, ct);
        var eval = ctx.OptionalInput("eval") is { } e
            ? ArtifactTransfer.RenamedAsync(ctx.StoreChannel, e, [(tensor, "eval_features"), ("labels", "eval_labels")], ct)
            : ArtifactTransfer.AsAsync([], ct);
        await ArtifactTransfer.WriteAsync(call.RequestStream, eval, b => new TrainRequest { Block = b }, ct, complete: true);
        var r = await JobEvents.ResultAsync(call.ResponseStream, ctx);
        return JobEvents.AsStep(r, "model");
    }
}
