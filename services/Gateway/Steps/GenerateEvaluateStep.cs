using ConceptSuite.Contracts;
using ConceptSuite.Core.Methods;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// GenerateService.Evaluate: samples a generator for a prompt set and reports, per concept, the
/// fraction of samples the concept classifier judges to show the requested concept. The optional
/// input "classifier" names a generator artifact whose classifier judges instead (e.g. the
/// original when evaluating an edited copy). Options: prompts (";"-separated; empty: one per judged
/// concept and shape), samples (per prompt), steps, guidance, seed. Metrics: mean_rate,
/// rate.CONCEPT and chance.CONCEPT.
/// </summary>
public sealed class GenerateEvaluateStep(GenerateEvaluateStep.Options options) : IStepExecutor
{
    /// <summary>The step's options, parsed once against <see cref="Schema"/>.</summary>
    public sealed record Options(string Prompts, int Samples, int Steps, double Guidance, long Seed)
    {
        public static readonly IReadOnlyList<OptionSpec> Schema =
        [
            OptionSpec.Text("prompts", "", "prompts, \";\"-separated (empty: one per judged concept and shape)"),
            OptionSpec.Int("samples", 0, "samples per prompt", 0, 1024),
            OptionSpec.Int("steps", 0, "sampling steps", 0, 1000),
            OptionSpec.Float("guidance", 0, "guidance scale", 0, 20),
            OptionSpec.Int("seed", 0, "random seed", 0),
        ];

        public static Options From(OptionValues o) => new(o.Text("prompts"), o.Int("samples"), o.Int("steps"), o.Float("guidance"), o.Long("seed"));
    }

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var request = new EvaluateRequest
        {
            Generator = new ArtifactRef { Id = ctx.Input("generator"), Kind = "generator" },
            ClassifierGenerator = ctx.OptionalInput("classifier") is { } classifier ? new ArtifactRef { Id = classifier, Kind = "generator" } : null,
            SamplesPerPrompt = options.Samples,
            Steps = options.Steps,
            Guidance = options.Guidance,
            Seed = options.Seed,
        };
        request.Prompts.AddRange(options.Prompts.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        ctx.Progress(0, 1, "evaluations", "sample");
        var r = await new GenerateService.GenerateServiceClient(ctx.Channel).EvaluateAsync(request, cancellationToken: ctx.CancellationToken);
        ctx.Progress(1, 1, "evaluations", "done");
        var metrics = new Dictionary<string, double> { ["mean_rate"] = r.MeanRate, ["prompts"] = r.Prompts.Count };
        foreach (var c in r.Concepts)
        {
            metrics["rate." + c.Concept] = c.Rate;
            metrics["chance." + c.Concept] = c.Chance;
        }
        return new StepResult(new Dictionary<string, ArtifactRef>(), metrics);
    }
}
