using ConceptSuite.Contracts;
using ConceptSuite.Core.Methods;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// DiscoveryService.Fit: trains a concept dictionary on an activation artifact, which the
/// discovery stage reads from the store block by block; an optional validation input (held-out
/// activations of the same model) is scored too (val_r2, val_l0, ...); an optional paired input (the rows
/// of a second modality paired with the activations, e.g. embedding.captions' caption embeddings) is the
/// config.paired_activations of the paired methods (cocca, scocca). Options: method (default topk_sae),
/// concepts (C), seed, tensor, skip_stability, eval_samples, paired_tensor, and method_options as
/// "name=value;name=value" (checked by the stage against the method's schema).
/// </summary>
public sealed class DiscoveryFitStep(DiscoveryFitStep.Options options) : IStepExecutor
{
    /// <summary>The step's options, parsed once against <see cref="Schema"/>.</summary>
    public sealed record Options(string Method, int Concepts, long Seed, string Tensor, bool SkipStability, long EvalSamples, string MethodOptions, string PairedTensor)
    {
        public static readonly IReadOnlyList<OptionSpec> Schema =
        [
            OptionSpec.Text("method", "topk_sae", "the dictionary method (checked by the stage)"),
            OptionSpec.Int("concepts", 64, "number of concepts C", 1, 1 << 20),
            OptionSpec.Int("seed", 0, "random seed", 0),
            OptionSpec.Text("tensor", "", "the activation tensor (empty: the stage's default)"),
            OptionSpec.Bool("skip_stability", true, "skip the stability refits"),
            OptionSpec.Int("eval_samples", 0, "rows scored after the fit (0: the stage's default)", 0),
            OptionSpec.Text("method_options", "", "the method's options as name=value;name=value (checked by the stage)"),
            OptionSpec.Text("paired_tensor", "embeddings", "the tensor of the paired input (embedding.captions stores \"embeddings\", embedding.embed \"activations\")"),
        ];

        public static Options From(OptionValues o) => new(o.Text("method"), o.Int("concepts"), o.Long("seed"), o.Text("tensor"), o.Bool("skip_stability"), o.Long("eval_samples"), o.Text("method_options"), o.Text("paired_tensor"));
    }

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var spec = new DictionarySpec { Method = options.Method, NConcepts = options.Concepts };
        foreach (var (k, v) in OptionText.Pairs(options.MethodOptions, ctx.OptionField("method_options"))) spec.Options[k] = v;
        var config = new FitConfig
        {
            Activations = new ArtifactRef { Id = ctx.Input("activations"), Kind = "activations" },
            Tensor = options.Tensor,
            Seed = options.Seed,
            SkipStability = options.SkipStability,
            EvalSamples = options.EvalSamples,
        };
        if (ctx.OptionalInput("validation") is { } validation)
        {
            config.Validation = new ArtifactRef { Id = validation, Kind = "activations" };
            config.ValidationTensor = config.Tensor;
        }
        if (ctx.OptionalInput("paired") is { } paired)
        {
            config.PairedActivations = new ArtifactRef { Id = paired, Kind = "activations" };
            config.PairedTensor = options.PairedTensor;
        }
        config.Dictionaries.Add(spec);
        using var call = new DiscoveryService.DiscoveryServiceClient(ctx.Channel).Fit(cancellationToken: ctx.CancellationToken);
        await call.RequestStream.WriteAsync(new FitRequest { Config = config }, ctx.CancellationToken);
        await call.RequestStream.CompleteAsync();
        var r = await JobEvents.ResultAsync(call.ResponseStream, ctx);
        return JobEvents.AsStep(r, "dictionary");
    }
}
