using System.Text.Json;
using System.Text.Json.Nodes;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Jobs;
using ConceptSuite.Generate.Model;
using TorchSharp;

namespace ConceptSuite.Generate.Editing;

/// <summary>
/// The Erase job: applies the eraser's closed-form edit to a copy of the generator, measures the
/// efficacy/drift report against the original (its classifier judging both) and stores the
/// edited generator, whose metadata records the edit and the report.
/// </summary>
/// <param name="Method">The eraser's registry name.</param>
/// <param name="Samples">Samples per prompt of the report.</param>
public sealed record EraseJob(ArtifactStore Store, torch.Device Device, string GeneratorId, string Method, IConceptEraser Eraser,
    EraseSpec Spec, int Samples, int Steps, double Guidance)
{
    public async Task<JobOutcome> RunAsync(JobContext job)
    {
        job.Progress(0, 3, "phases", "edit");
        using var original = GeneratorArtifact.Load(Store, GeneratorId, Device);
        using var edited = GeneratorArtifact.Load(Store, GeneratorId, Device);
        var plan = Eraser.Plan(edited.Generator, Spec);
        ConceptErasers.Apply(edited.Generator, plan, Eraser.ClosedForm);
        job.Progress(1, 3, "phases", "report");
        var report = EraseReport.Measure(original.Generator, edited.Generator, original.Classifier, plan, Spec.Concepts, Samples, Steps, Guidance, Spec.Seed, job.CancellationToken);
        var metrics = report.Metrics();
        foreach (var c in report.MinedConcepts) job.Message($"mined associated concept '{c}' and erased it too");
        job.Progress(2, 3, "phases", "save");
        var extra = new JsonObject
        {
            ["parent"] = GeneratorId,
            ["edit"] = new JsonObject
            {
                ["method"] = Method,
                ["concepts"] = JsonSerializer.SerializeToNode(Spec.Concepts),
                ["targets"] = JsonSerializer.SerializeToNode(Spec.Targets),
                ["preserve"] = JsonSerializer.SerializeToNode(plan.PreservedConcepts),
                ["mined"] = JsonSerializer.SerializeToNode(plan.MinedConcepts),
                ["lambda"] = Eraser.ClosedForm.Lambda,
                ["neighbour_keys"] = plan.NeighbourKeys,
                ["beyond_keys"] = plan.BeyondKeys,
            },
            ["report"] = JsonSerializer.SerializeToNode(metrics),
        };
        foreach (var k in new[] { "config", "training", "data", "metrics" })
            if (original.Metadata[k] is { } v && k != "metrics") extra[k] = v.DeepClone();
        var info = await GeneratorArtifact.SaveAsync(Store, edited.Generator, original.Classifier, extra, job.CancellationToken);
        job.Progress(3, 3, "phases", "done");
        return new JobOutcome(info, metrics);
    }
}
