using ConceptSuite.Contracts;
using ConceptSuite.Core.Methods;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// EmbeddingService.EmbedDataset: runs a backbone over a dataset artifact and stores the
/// activations (tensor "activations" [N, D] plus "labels") as an "activations" artifact.
/// Options: model (default resnet18), taps (comma list; empty: the model's default), limit.
/// The optional input "backbone" (a "backbone" artifact from embedding.train-backbone) selects
/// the model "backbone:&lt;id&gt;" instead of the model option.
/// </summary>
public sealed class EmbedDatasetStep(EmbedDatasetStep.Options options) : IStepExecutor
{
    /// <summary>The step's options, parsed once against <see cref="Schema"/>.</summary>
    public sealed record Options(string Model, string Taps, long Limit)
    {
        public static readonly IReadOnlyList<OptionSpec> Schema =
        [
            OptionSpec.Text("model", "", "the backbone (empty: resnet18; not with a backbone input)"),
            OptionSpec.Text("taps", "", "taps, comma list (empty: the model's default)"),
            OptionSpec.Int("limit", 0, "rows to embed (0: all)", 0),
        ];

        public static Options From(OptionValues o) => new(o.Text("model"), o.Text("taps"), o.Long("limit"));
    }

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var backbone = ctx.OptionalInput("backbone");
        if (backbone is not null && options.Model.Length > 0)
            throw new InvalidInputException(ctx.OptionField("model"), "give either a model or a backbone input, not both");
        var model = backbone is null ? (options.Model.Length > 0 ? options.Model : "resnet18") : "backbone:" + backbone;
        var request = new EmbedDatasetRequest { Dataset = new ArtifactRef { Id = ctx.Input("dataset") }, Model = model, Limit = options.Limit };
        request.Taps.AddRange(OptionText.List(options.Taps));
        using var call = new EmbeddingService.EmbeddingServiceClient(ctx.Channel).EmbedDataset(request, cancellationToken: ctx.CancellationToken);
        var r = await JobEvents.ResultAsync(call.ResponseStream, ctx);
        var rows = r.Artifact.Tensors.FirstOrDefault(t => t.Name == "activations") is { Shape.Count: > 0 } a ? a.Shape[0] : 0;
        var dims = r.Artifact.Tensors.FirstOrDefault(t => t.Name == "activations") is { Shape.Count: > 1 } b ? b.Shape[1] : 0;
        return JobEvents.AsStep(r, "activations", new Dictionary<string, double> { ["rows"] = rows, ["dims"] = dims });
    }
}
