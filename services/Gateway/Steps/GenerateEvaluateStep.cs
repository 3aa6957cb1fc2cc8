using ConceptSuite.Contracts;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// GenerateService.Evaluate: samples a generator for a prompt set and reports, per concept, the
/// fraction of samples the concept classifier judges to show the requested concept. The optional
/// input "classifier" names a generator artifact whose classifier judges instead (e.g. the
/// original when evaluating an edited copy). Options: prompts (";"-separated; empty: one per judged
/// concept and shape), samples (per prompt), steps, guidance, seed. Metrics: mean_rate,
/// rate.CONCEPT and chance.CONCEPT.
/// </summary>
public sealed class GenerateEvaluateStep : IStepExecutor
{
    public string Method => "generate.evaluate";
    public string DefaultStage => "generate";
    public IReadOnlyList<string> Inputs => ["generator"];
    public IReadOnlyList<string> OptionalInputs => ["classifier"];
    public IReadOnlyList<string> Outputs => [];
    public IReadOnlyList<string> Options => ["prompts", "samples", "steps", "guidance", "seed"];
    public string Description => "Per-concept rates of a generator judged by a concept classifier (GenerateService.Evaluate).";

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var request = new EvaluateRequest
        {
            Generator = new ArtifactRef { Id = ctx.Input("generator"), Kind = "generator" },
            ClassifierGenerator = ctx.OptionalInput("classifier") is { } classifier ? new ArtifactRef { Id = classifier, Kind = "generator" } : null,
            SamplesPerPrompt = (int)ctx.Int("samples", 0, 0, 1024),
            Steps = (int)ctx.Int("steps", 0, 0, 1000),
            Guidance = ctx.Real("guidance", 0, 0, 20),
            Seed = ctx.Int("seed", 0, 0),
        };
        request.Prompts.AddRange(ctx.Option("prompts", "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
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
