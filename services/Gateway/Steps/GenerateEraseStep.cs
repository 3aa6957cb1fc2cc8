using ConceptSuite.Contracts;
using ConceptSuite.Core.Methods;

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
public sealed class GenerateEraseStep(GenerateEraseStep.Options options) : IStepExecutor
{
    /// <summary>The step's options, parsed once against <see cref="Schema"/>.</summary>
    public sealed record Options(string Concepts, string Targets, string Preserve, string Method, double Lambda, int ReportSamples, int ReportSteps, double ReportGuidance, int Seed)
    {
        public static readonly IReadOnlyList<OptionSpec> Schema =
        [
            OptionSpec.Text("concepts", "", "concepts to erase, comma list (required)"),
            OptionSpec.Text("targets", "", "what each erased concept maps to, comma list (\"\" is the neutral prompt)"),
            OptionSpec.Text("preserve", "", "concepts to preserve, comma list"),
            OptionSpec.Text("method", "", "realera or uce (empty: the stage's default)"),
            OptionSpec.Float("lambda", 0, "preservation weight (0: the method's default)", 0),
            OptionSpec.Int("report_samples", 0, "samples per prompt of the efficacy/drift report", 0, 256),
            OptionSpec.Int("report_steps", 0, "sampling steps of the report", 0, 1000),
            OptionSpec.Float("report_guidance", 0, "guidance scale of the report", 0, 20),
            OptionSpec.Int("seed", 0, "random seed", 0, int.MaxValue),
        ];

        public static Options From(OptionValues o) => new(o.Text("concepts"), o.Text("targets"), o.Text("preserve"), o.Text("method"), o.Float("lambda"), o.Int("report_samples"), o.Int("report_steps"), o.Float("report_guidance"), o.Int("seed"));
    }

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var request = new EraseRequest
        {
            Generator = new ArtifactRef { Id = ctx.Input("generator"), Kind = "generator" },
            Eraser = new EraserSettings { Method = options.Method },
            ReportSamples = options.ReportSamples,
            ReportSteps = options.ReportSteps,
            ReportGuidance = options.ReportGuidance,
            Seed = options.Seed,
        };
        if (options.Lambda > 0) request.Eraser.Options["lambda"] = options.Lambda.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        request.Concepts.AddRange(List(options.Concepts));
        if (request.Concepts.Count == 0) throw new InvalidInputException(ctx.OptionField("concepts"), "name at least one concept to erase");
        request.Targets.AddRange(List(options.Targets));
        request.Preserve.AddRange(List(options.Preserve));
        using var call = new GenerateService.GenerateServiceClient(ctx.Channel).Erase(request, cancellationToken: ctx.CancellationToken);
        var r = await JobEvents.ResultAsync(call.ResponseStream, ctx);
        return JobEvents.AsStep(r, "generator");
    }

    /// <summary>A comma list option; empty entries are kept (a "" target is the neutral prompt).</summary>
    static string[] List(string option) => option.Length > 0 ? option.Split(',', StringSplitOptions.TrimEntries) : [];
}
