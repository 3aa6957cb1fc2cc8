using System.Globalization;
using ConceptSuite.Contracts;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// DiscoveryService.Fit: trains a concept dictionary on an activation artifact, which the
/// discovery stage reads from the store block by block; an optional validation input (held-out
/// activations of the same model) is scored too (val_r2, val_l0, ...). Options: method (default topk_sae),
/// concepts (C), seed, tensor, skip_stability, eval_samples, and method_options as
/// "name=value;name=value" (checked by the stage against the method's schema).
/// </summary>
public sealed class DiscoveryFitStep : IStepExecutor
{
    public string Method => "discovery.fit";
    public string DefaultStage => "discovery";
    public IReadOnlyList<string> Inputs => ["activations"];
    public IReadOnlyList<string> OptionalInputs => ["validation"];
    public IReadOnlyList<string> Outputs => ["dictionary"];
    public IReadOnlyList<string> Options => ["method", "concepts", "seed", "tensor", "skip_stability", "eval_samples", "method_options"];
    public string Description => "Fits a concept dictionary (TopK SAE, NMF, PCA, ...) on activations (DiscoveryService.Fit).";

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var spec = new DictionarySpec { Method = ctx.Option("method", "topk_sae"), NConcepts = (int)ctx.Int("concepts", 64, 1, 1 << 20) };
        foreach (var (k, v) in ctx.Pairs("method_options")) spec.Options[k] = v;
        var config = new FitConfig
        {
            Activations = new ArtifactRef { Id = ctx.Input("activations"), Kind = "activations" },
            Tensor = ctx.Option("tensor", ""),
            Seed = ctx.Int("seed", 0, 0),
            SkipStability = bool.Parse(ctx.Option("skip_stability", "true").ToLower(CultureInfo.InvariantCulture) is "1" or "true" ? "true" : "false"),
            EvalSamples = ctx.Int("eval_samples", 0, 0),
        };
        if (ctx.OptionalInput("validation") is { } validation)
        {
            config.Validation = new ArtifactRef { Id = validation, Kind = "activations" };
            config.ValidationTensor = config.Tensor;
        }
        config.Dictionaries.Add(spec);
        using var call = new DiscoveryService.DiscoveryServiceClient(ctx.Channel).Fit(cancellationToken: ctx.CancellationToken);
        await call.RequestStream.WriteAsync(new FitRequest { Config = config }, ctx.CancellationToken);
        await call.RequestStream.CompleteAsync();
        var r = await JobEvents.ResultAsync(call.ResponseStream, ctx);
        return JobEvents.AsStep(r, "dictionary");
    }
}
