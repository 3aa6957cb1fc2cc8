using System.Text;
using System.Text.Json;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Gateway.Atlas;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// The workflow's concept atlas, made in the gateway from the workflow's state (the steps before
/// this one: their metrics and outputs) and the artifacts they stored: one self-contained HTML
/// file (<see cref="AtlasHtml"/>), stored as an "atlas" artifact with tensor "html" (uint8 [bytes],
/// UTF-8) and metadata {"type": "atlas", "media_type": "text/html", "workflow", "name",
/// "concepts": [names shown]}. Any client fetches it with GetArtifact (`concept atlas ID`).
/// Metrics: bytes, concepts, images.
/// </summary>
public sealed class AtlasRenderStep : IStepExecutor
{
    /// <summary>The artifact kind of a rendered atlas.</summary>
    public const string Kind = "atlas";

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var ct = ctx.CancellationToken;
        var model = await AtlasBuilder.BuildAsync(ctx.StoreChannel, ctx.Workflow, ct);
        var html = Encoding.UTF8.GetBytes(AtlasHtml.Render(model));
        var meta = JsonSerializer.Serialize(new
        {
            type = "atlas", media_type = "text/html", workflow = ctx.WorkflowId, name = ctx.Workflow.Name,
            concepts = model.Concepts.Select(c => c.Name).ToArray(),
        });
        var stored = await ArtifactTransfer.PutAsync(ctx.StoreChannel, Kind, meta,
            new Dictionary<string, string> { ["producer"] = "gateway/atlas.render", ["workflow"] = ctx.WorkflowId },
            ArtifactTransfer.AsAsync(HostTensor.FromBytes(html, html.Length).ToBlocks("html", ctx.BlockBytes), ct), ct);
        int images = model.Samples.Sum(s => s.Images.Count) + model.Concepts.Sum(c => c.TopImages.Count + c.Heatmaps.Count);
        return new StepResult(new Dictionary<string, ArtifactRef> { ["atlas"] = stored.Ref },
            new Dictionary<string, double> { ["bytes"] = html.Length, ["concepts"] = model.Concepts.Count, ["images"] = images });
    }
}
