using ConceptSuite.Contracts;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// EmbeddingService.EmbedDataset: runs a backbone over a dataset artifact and stores the
/// activations (tensor "activations" [N, D] plus "labels") as an "activations" artifact.
/// Options: model (default resnet18), taps (comma list; empty: the model's default), limit.
/// The optional input "backbone" (a "backbone" artifact from embedding.train-backbone) selects
/// the model "backbone:&lt;id&gt;" instead of the model option.
/// </summary>
public sealed class EmbedDatasetStep : IStepExecutor
{
    public string Method => "embedding.embed";
    public string DefaultStage => "embedding";
    public IReadOnlyList<string> Inputs => ["dataset"];
    public IReadOnlyList<string> OptionalInputs => ["backbone"];
    public IReadOnlyList<string> Outputs => ["activations"];
    public IReadOnlyList<string> Options => ["model", "taps", "limit"];
    public string Description => "Embeds a dataset with a backbone (EmbeddingService.EmbedDataset).";

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var backbone = ctx.OptionalInput("backbone");
        if (backbone is not null && ctx.Option("model", "").Length > 0)
            throw new InvalidInputException($"steps.{ctx.Step}.options.model", "give either a model or a backbone input, not both");
        var model = backbone is null ? ctx.Option("model", "resnet18") : "backbone:" + backbone;
        var request = new EmbedDatasetRequest { Dataset = new ArtifactRef { Id = ctx.Input("dataset") }, Model = model, Limit = ctx.Int("limit", 0, 0) };
        request.Taps.AddRange(ctx.Option("taps", "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        using var call = new EmbeddingService.EmbeddingServiceClient(ctx.Channel).EmbedDataset(request, cancellationToken: ctx.CancellationToken);
        var r = await JobEvents.ResultAsync(call.ResponseStream, ctx);
        var rows = r.Artifact.Tensors.FirstOrDefault(t => t.Name == "activations") is { Shape.Count: > 0 } a ? a.Shape[0] : 0;
        var dims = r.Artifact.Tensors.FirstOrDefault(t => t.Name == "activations") is { Shape.Count: > 1 } b ? b.Shape[1] : 0;
        return JobEvents.AsStep(r, "activations", new Dictionary<string, double> { ["rows"] = rows, ["dims"] = dims });
    }
}
