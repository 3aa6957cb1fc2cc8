using ConceptSuite.Contracts;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// EmbeddingService.EmbedDataset: runs a backbone over a dataset artifact and stores the
/// activations (tensor "activations" [N, D] plus "labels") as an "activations" artifact.
/// Options: model (default resnet18), taps (comma list; empty: the model's default), limit.
/// </summary>
public sealed class EmbedDatasetStep : IStepExecutor
{
    public string Method => "embedding.embed";
    public string DefaultStage => "embedding";
    public IReadOnlyList<string> Inputs => ["dataset"];
    public IReadOnlyList<string> Outputs => ["activations"];
    public IReadOnlyList<string> Options => ["model", "taps", "limit"];
    public string Description => "Embeds a dataset with a backbone (EmbeddingService.EmbedDataset).";

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var request = new EmbedDatasetRequest { DatasetId = ctx.Input("dataset"), Model = ctx.Option("model", "resnet18"), Limit = ctx.Int("limit", 0, 0) };
        request.Taps.AddRange(ctx.Option("taps", "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        using var call = new EmbeddingService.EmbeddingServiceClient(ctx.Channel).EmbedDataset(request, cancellationToken: ctx.CancellationToken);
        var r = await JobEvents.ResultAsync(call.ResponseStream, ctx);
        var rows = r.Artifact.Tensors.FirstOrDefault(t => t.Name == "activations") is { Shape.Count: > 0 } a ? a.Shape[0] : 0;
        var dims = r.Artifact.Tensors.FirstOrDefault(t => t.Name == "activations") is { Shape.Count: > 1 } b ? b.Shape[1] : 0;
        return JobEvents.AsStep(r, "activations", new Dictionary<string, double> { ["rows"] = rows, ["dims"] = dims });
    }
}
