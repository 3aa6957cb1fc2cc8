using ConceptSuite.Contracts;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// GenerateService.Erase: erases concepts from a generator in closed form (RealEra, Liu et al.
/// 2024, by default; or unified concept editing, Gandikota et al. 2024) and measures the edit on
/// the same seeds. The result is a new "generator" artifact; the metrics are the stage's
/// efficacy/drift report (erased.CONCEPT.before/after, preserved.CONCEPT.before/after,
/// preserve_drift_max, preserve_pixel_drift, ...). Options: concepts and targets and preserve
/// (comma lists; concepts is required), method, lambda, report_samples, report_steps,
/// report_guidance, seed.
/// </summary>
public sealed class GenerateEraseStep : IStepExecutor
{
    public string Method => "generate.erase";
    public string DefaultStage => "generate";
    public IReadOnlyList<string> Inputs => ["generator"];
    public IReadOnlyList<string> Outputs => ["generator"];
    public IReadOnlyList<string> Options => ["concepts", "targets", "preserve", "method", "lambda", "report_samples", "report_steps", "report_guidance", "seed"];
    public string Description => "Erases concepts from a generator and reports efficacy and drift (GenerateService.Erase).";

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var request = new EraseRequest
        {
            Generator = new ArtifactRef { Id = ctx.Input("generator"), Kind = "generator" },
            Eraser = new EraserSettings { Method = ctx.Option("method", "") },
            ReportSamples = (int)ctx.Int("report_samples", 0, 0, 256),
            ReportSteps = (int)ctx.Int("report_steps", 0, 0, 1000),
            ReportGuidance = ctx.Real("report_guidance", 0, 0, 20),
            Seed = (int)ctx.Int("seed", 0, 0, int.MaxValue),
        };
        if (ctx.Real("lambda", 0, 0) is > 0 and var lambda) request.Eraser.Options["lambda"] = lambda.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        request.Concepts.AddRange(List(ctx, "concepts"));
        if (request.Concepts.Count == 0) throw new InvalidInputException($"steps.{ctx.Step}.options.concepts", "name at least one concept to erase");
        request.Targets.AddRange(List(ctx, "targets"));
        request.Preserve.AddRange(List(ctx, "preserve"));
        using var call = new GenerateService.GenerateServiceClient(ctx.Channel).Erase(request, cancellationToken: ctx.CancellationToken);
        var r = await JobEvents.ResultAsync(call.ResponseStream, ctx);
        return JobEvents.AsStep(r, "generator");
    }

    /// <summary>A comma list option; empty entries are kept (a "" target is the neutral prompt).</summary>
    static string[] List(StepContext ctx, string option) => ctx.Option(option, "") is { Length: > 0 } v ? v.Split(',', StringSplitOptions.TrimEntries) : [];
}
