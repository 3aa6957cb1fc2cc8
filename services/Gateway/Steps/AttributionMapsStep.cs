using System.Runtime.InteropServices;
using System.Text.Json;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Limits;
using ConceptSuite.Core.Methods;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// ExplainService.AttributionMaps over each concept's top-activating images: for concept c and
/// each of its top images (the rows a discovery.top-examples report lists), the map of atom c on
/// the image's spatial activations (ReLU of the coefficient at each patch, upsampled bilinearly to
/// the image and scaled to max 1) — where in the image the concept is. Inputs: dictionary (atoms
/// [K, D]), spatial (activations [N, D, h, w] of the images the examples index, tap channels = D),
/// examples; optional dataset (the images, for their size; else the examples' data set). Options:
/// k (top images per concept, at most the examples'; 0: all), image_size (0: the images' own),
/// tensor. Stored as a "report" artifact the atlas draws over the top images: tensors "samples"
/// int64 [C, k] (rows, −1 where a concept has fewer) and "maps" float32 [C, k, H, W]; metadata
/// {"type": "attribution-maps", "concepts" (dictionary indices), "dictionary", "spatial", "examples", "dataset"}.
/// </summary>
public sealed class AttributionMapsStep(AttributionMapsStep.Options options, RequestBudget budget) : IStepExecutor
{
    /// <summary>The step's options, parsed once against <see cref="Schema"/>.</summary>
    public sealed record Options(int K, int ImageSize, string Tensor)
    {
        public static readonly IReadOnlyList<OptionSpec> Schema =
        [
            OptionSpec.Int("k", 0, "top images per concept (0: all the examples list)", 0, 1024),
            OptionSpec.Int("image_size", 0, "side of the maps in pixels (0: the images' own size)", 0, 4096),
            OptionSpec.Text("tensor", "activations", "the tensor of the spatial input"),
        ];

        public static Options From(OptionValues o) => new(o.Int("k"), o.Int("image_size"), o.Text("tensor"));
    }

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var ct = ctx.CancellationToken;
        string spatial = ctx.Input("spatial"), dictionary = ctx.Input("dictionary"), examplesId = ctx.Input("examples");
        var (tap, n) = await ArtifactTransfer.SpatialSourceAsync(ctx.StoreChannel, spatial, options.Tensor, $"steps.{ctx.Step}.inputs.spatial", ct);
        var examplesInfo = await ArtifactTransfer.InfoAsync(ctx.StoreChannel, examplesId, ct);
        var samplesInfo = examplesInfo.Tensors.FirstOrDefault(t => t.Name == "samples");
        if (!examplesInfo.MetadataJson.Contains("\"top-examples\"", StringComparison.Ordinal) || samplesInfo is not { Shape.Count: 2 })
            throw new InvalidInputException($"steps.{ctx.Step}.inputs.examples", $"artifact {examplesId[..12]} is not a discovery.top-examples report");
        int concepts = (int)samplesInfo.Shape[0], listed = (int)samplesInfo.Shape[1];
        int k = options.K == 0 ? listed : options.K;
        if (k > listed) throw new InvalidInputException(ctx.OptionField("k"), $"must be at most the {listed} images the examples list per concept, got {k}");

        // The maps' size: the option, else the images'.
        long height = options.ImageSize, width = options.ImageSize;
        var datasetId = ctx.OptionalInput("dataset") ?? (StepMetadata.Text(examplesInfo.MetadataJson, "dataset") is { Length: > 0 } d ? d : null);
        if (options.ImageSize == 0)
        {
            if (datasetId is null) throw new InvalidInputException(ctx.OptionField("image_size"), "give the image size, or a dataset input for the images' own");
            var images = (await ArtifactTransfer.InfoAsync(ctx.StoreChannel, datasetId, ct)).Tensors.FirstOrDefault(t => t.Name == "images");
            if (images is not { Shape.Count: 4 })
                throw new InvalidInputException($"steps.{ctx.Step}.inputs.dataset", $"data set {datasetId[..12]} has no images [N, C, H, W]");
            (height, width) = (images.Shape[2], images.Shape[3]);
        }
        // What the step holds before any of it is read: the spatial rows, the maps, the rows' index.
        long perRow = RequestBudget.Product(tap.Shape[1], tap.Shape[2], tap.Shape[3], 4);
        budget.Bytes($"steps.{ctx.Step}.inputs.spatial", RequestBudget.Product(n, perRow));
        budget.Bytes(ctx.OptionField(options.ImageSize > 0 ? "image_size" : "k"), RequestBudget.Product(concepts, k, height, width, 4));

        var (_, examples) = await ArtifactTransfer.ReadSmallAsync(ctx.StoreChannel, examplesId, ["samples"], ct);
        var rows = examples["samples"].Span<long>().ToArray();
        var ids = StepMetadata.Strings(examplesInfo.MetadataJson, "concepts").Select(s => long.Parse(s, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        if (ids.Length != concepts) throw new InvalidInputException($"steps.{ctx.Step}.inputs.examples", $"lists {ids.Length} concept ids for {concepts} rows of samples");
        var (_, spatialTensors) = await ArtifactTransfer.ReadSmallAsync(ctx.StoreChannel, spatial, [options.Tensor], ct);
        var activations = spatialTensors[options.Tensor];
        var atoms = await TensorStreamClient.ReadAllAsync(ArtifactTransfer.AtomsAsync(ctx.Stages.Invoker("discovery"), dictionary, "dictionary", ct), ct);
        var bank = atoms["dictionary"];

        var samples = new long[concepts * k];
        Array.Fill(samples, -1);
        long plane = height * width;
        var maps = new float[concepts * k * plane];
        var client = new ExplainService.ExplainServiceClient(ctx.Channel);
        int drawn = 0;
        for (int i = 0; i < concepts; i++)
        {
            var top = Enumerable.Range(0, k).Select(j => rows[i * listed + j]).Where(r => r >= 0).ToList();
            if (top.Any(r => r >= n))
                throw new InvalidInputException($"steps.{ctx.Step}.inputs.spatial", $"has {n} rows; the examples index row {top.Max()}: give the activations the examples were found on");
            if (top.Count == 0) continue;
            var picked = new byte[top.Count * perRow];
            for (int j = 0; j < top.Count; j++) Array.Copy(activations.Data, top[j] * perRow, picked, j * perRow, perRow);
            using var call = client.AttributionMaps(cancellationToken: ct);
            var config = new AttributionMapsConfig { ImageHeight = height, ImageWidth = width };
            config.Concepts.Add(ids[i]);
            await call.RequestStream.WriteAsync(new AttributionMapsRequest { Config = config }, ct);
            var blocks = new HostTensor(activations.DType, [top.Count, tap.Shape[1], tap.Shape[2], tap.Shape[3]], picked, []).ToBlocks("activations", ctx.BlockBytes)
                .Concat(bank.ToBlocks("dictionary", ctx.BlockBytes));
            await ArtifactTransfer.WriteAsync(call.RequestStream, ArtifactTransfer.AsAsync(blocks, ct), b => new AttributionMapsRequest { Block = b }, ct, complete: true);
            var result = await TensorStreamClient.ReadAllAsync(TensorStreamClient.ReadBlocksAsync(call.ResponseStream, null, ct), ct);
            var m = result["maps"].ToFloats();
            Array.Copy(m, 0, maps, (long)i * k * plane, m.Length);
            for (int j = 0; j < top.Count; j++) samples[i * k + j] = top[j];
            drawn += top.Count;
            ctx.Progress(i + 1, concepts, "concepts", "attribution maps");
        }
        var meta = JsonSerializer.Serialize(new { type = "attribution-maps", concepts = ids, dictionary, spatial, examples = examplesId, dataset = datasetId ?? "", height, width });
        var stored = await ArtifactTransfer.PutAsync(ctx.StoreChannel, "report", meta, new Dictionary<string, string> { ["producer"] = "gateway/explain.attribution-maps" },
            ArtifactTransfer.AsAsync(new HostTensor(DType.Int64, [concepts, k], MemoryMarshal.AsBytes(samples.AsSpan()).ToArray(), []).ToBlocks("samples", ctx.BlockBytes)
                .Concat(HostTensor.FromFloats(maps, concepts, k, height, width).ToBlocks("maps", ctx.BlockBytes)), ct), ct);
        return new StepResult(new Dictionary<string, ArtifactRef> { ["maps"] = stored.Ref },
            new Dictionary<string, double> { ["concepts"] = concepts, ["maps"] = drawn, ["height"] = height, ["width"] = width });
    }

}
