using System.Runtime.InteropServices;
using System.Text.Json;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Methods;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// EmbeddingService.EmbedText over a data set's captions (metadata "captions", one per image):
/// tensor "embeddings" [N, D_txt], row i the caption of image i — the text side of the
/// image→text bridge that NameConcepts fits. Each distinct caption is embedded once and its row
/// repeated (Fashion-MNIST's captions are "a photo of a &lt;class&gt;").
/// </summary>
public sealed class CaptionEmbeddingStep(CaptionEmbeddingStep.Options options) : IStepExecutor
{
    /// <summary>The step's options, parsed once against <see cref="Schema"/>.</summary>
    public sealed record Options(string Model)
    {
        public static readonly IReadOnlyList<OptionSpec> Schema =
        [
            OptionSpec.Text("model", "minilm", "the text model"),
        ];

        public static Options From(OptionValues o) => new(o.Text("model"));
    }

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var dataset = ctx.Input("dataset");
        var info = await ArtifactTransfer.InfoAsync(ctx.StoreChannel, dataset, ctx.CancellationToken);
        var captions = StepMetadata.Strings(info.MetadataJson, "captions");
        if (captions.Count == 0)
            throw new InvalidInputException($"steps.{ctx.Step}.inputs.dataset", $"data set {dataset[..12]} has no captions in its metadata");
        if (captions.Any(string.IsNullOrWhiteSpace))
            throw new InvalidInputException($"steps.{ctx.Step}.inputs.dataset", "every image needs a non-empty caption");
        var distinct = captions.Distinct(StringComparer.Ordinal).ToList();
        var model = options.Model;
        var rows = await TensorStreamClient.ReadAllAsync(TextEmbeddingStep.EmbedAsync(ctx, model, distinct, "embeddings"), ctx.CancellationToken);
        var table = rows["embeddings"];
        int dim = (int)table.Shape[1];
        var index = distinct.Select((t, i) => (t, i)).ToDictionary(x => x.t, x => x.i, StringComparer.Ordinal);
        var meta = JsonSerializer.Serialize(new { type = "captions", model, dataset, distinct = distinct.Count });
        var stored = await ArtifactTransfer.PutAsync(ctx.StoreChannel, "activations", meta,
            new Dictionary<string, string> { ["producer"] = "gateway/embedding.captions" }, ArtifactTransfer.AsAsync(Blocks(), ctx.CancellationToken), ctx.CancellationToken);
        return new StepResult(new Dictionary<string, ArtifactRef> { ["captions"] = stored.Ref },
            new Dictionary<string, double> { ["rows"] = captions.Count, ["distinct"] = distinct.Count, ["dims"] = dim });

        // Row blocks of ~1 MiB built from the distinct rows, one block in memory at a time.
        IEnumerable<TensorBlock> Blocks()
        {
            var src = table.Span<float>().ToArray();
            int per = Math.Max(1, ctx.BlockBytes / (4 * dim));
            for (int start = 0; start < captions.Count; start += per)
            {
                int n = Math.Min(per, captions.Count - start);
                var block = new float[n * dim];
                for (int i = 0; i < n; i++) Array.Copy(src, index[captions[start + i]] * dim, block, i * dim, dim);
                foreach (var b in TensorBlocks.Split(DType.Float32, [n, dim], MemoryMarshal.AsBytes(block.AsSpan()).ToArray(), "embeddings", rowOffset: start, totalRows: captions.Count))
                    yield return b;
            }
        }
    }
}
