using ConceptSuite.Contracts;
using ConceptSuite.Core.Hosting;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Embedding.Data;
using ConceptSuite.Embedding.Images;
using ConceptSuite.Embedding.Jobs;
using ConceptSuite.Embedding.Models;
using Grpc.Core;
using Microsoft.Extensions.Options;
using TorchSharp;

namespace ConceptSuite.Embedding.Services;

/// <summary>conceptsuite.v1.EmbeddingService: validates, calls the registry, batcher and jobs, streams.</summary>
public sealed class EmbeddingGrpcService(ModelRegistry registry, DatasetImporter importer, EmbedDatasetJob embedJob,
    TrainBackboneJob trainJob, IOptions<SuiteOptions> suite, IOptions<EmbeddingOptions> options) : EmbeddingService.EmbeddingServiceBase
{
    readonly SuiteOptions _suite = suite.Value;
    readonly EmbeddingOptions _options = options.Value;

    public override Task<ListModelsResponse> ListModels(ListModelsRequest request, ServerCallContext context)
    {
        var r = new ListModelsResponse();
        r.Models.AddRange(registry.List(request.Kind));
        return Task.FromResult(r);
    }

    public override Task<ModelDescriptor> GetModel(GetModelRequest request, ServerCallContext context) =>
        Task.FromResult(registry.Describe(request.Name, "name"));

    /// <summary>The taps of a request, checked against the model; the default tap when none.</summary>
    public static List<string> ResolveTaps(IBackbone backbone, IReadOnlyList<string> requested, string field)
    {
        if (requested.Count == 0) return [backbone.Taps[0].Name];
        var taps = new List<string>();
        for (int i = 0; i < requested.Count; i++)
        {
            if (!backbone.HasTap(requested[i])) throw new NotFoundException($"tap of model {backbone.Name} ({field}[{i}])", requested[i]);
            if (taps.Contains(requested[i])) throw new InvalidInputException($"{field}[{i}]", $"tap '{requested[i]}' is named twice");
            taps.Add(requested[i]);
        }
        return taps;
    }

    int BlockBytes(long requested) => requested <= 0 ? _suite.BlockBytes : (int)Math.Clamp(requested, 1, _suite.MaxMessageBytes / 2);

    public override async Task EmbedImages(IAsyncStreamReader<EmbedImagesRequest> requestStream, IServerStreamWriter<TensorBlock> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        if (!await requestStream.MoveNext(ct)) throw new InvalidInputException("config", "stream is empty; the first message must be the config");
        if (requestStream.Current.PartCase != EmbedImagesRequest.PartOneofCase.Config)
            throw new InvalidInputException("config", "the first message must be the config");
        var config = requestStream.Current.Config;
        var backbone = registry.Image(config.Model, "config.model");
        var taps = ResolveTaps(backbone, config.Taps, "config.taps");
        var batcher = registry.Batcher(config.Model, "config.model");
        int blockBytes = BlockBytes(config.MaxBlockBytes);
        var input = backbone.Input;
        var validator = new TensorStreamValidator(new TensorStreamRules
        {
            Field = "images", RejectNonFinite = true, RequiredRank = 4, RejectEmpty = false, MaxTotalBytes = _suite.MaxStreamBytes,
        });

        var chunk = new List<torch.Tensor>();
        var chunkIds = new List<string>();
        var pending = new Queue<(Task<Dictionary<string, torch.Tensor>> Result, List<string> Ids, long Offset)>();
        long submitted = 0, images = 0;

        async Task WriteOldest()
        {
            var (task, ids, offset) = pending.Dequeue();
            var outs = await task;
            try
            {
                foreach (var tap in taps)
                    foreach (var block in TensorStreams.Split(outs[tap], tap, ids, blockBytes, offset, -1))
                        await responseStream.WriteAsync(block, ct);
            }
            finally { foreach (var o in outs.Values) o.Dispose(); }
        }

        async Task Submit()
        {
            if (chunk.Count == 0) return;
            torch.Tensor pixels;
            using (torch.NewDisposeScope())
                pixels = (chunk.Count == 1 ? chunk[0] : torch.cat(chunk, 0)).DetachFromDisposeScope();
            foreach (var c in chunk) if (!ReferenceEquals(c, pixels)) c.Dispose();
            long n = pixels.shape[0];
            pending.Enqueue((batcher.RunAsync(pixels, taps, ct), new List<string>(chunkIds), submitted));
            submitted += n;
            chunk.Clear();
            chunkIds.Clear();
            // Two chunks in flight: decoding the next overlaps the forward pass of the last.
            while (pending.Count > 2) await WriteOldest();
        }

        try
        {
            while (await requestStream.MoveNext(ct))
            {
                var msg = requestStream.Current;
                switch (msg.PartCase)
                {
                    case EmbedImagesRequest.PartOneofCase.Image:
                    {
                        string field = $"images[{images}].data";
                        using var scope = torch.NewDisposeScope();
                        var chw = ImageCodec.Decode(msg.Image.Data.Span, input.Channels, _options.MaxImageSide, field);
                        chunk.Add(ImageConform.ToModelInput(chw.unsqueeze(0), input.Channels, input.Height, input.Width, field).DetachFromDisposeScope());
                        chunkIds.Add(string.IsNullOrEmpty(msg.Image.Id) ? images.ToString() : msg.Image.Id);
                        images++;
                        break;
                    }
                    case EmbedImagesRequest.PartOneofCase.Images:
                    {
                        var block = msg.Images;
                        string field = $"images[{validator.Rows(block.Name)}]";
                        validator.Accept(block);
                        if (block.Tensor.Dtype is not (DType.Uint8 or DType.Float32))
                            throw new InvalidInputException(field + ".tensor.dtype", $"image tensors must be uint8 or float32 (0-255), got {block.Tensor.Dtype}");
                        var shape = block.Tensor.Shape;
                        if (shape[2] > _options.MaxImageSide || shape[3] > _options.MaxImageSide)
                            throw new InvalidInputException(field + ".tensor.shape", $"image sides must be at most {_options.MaxImageSide}");
                        long n = shape[0];
                        if (n == 0) break;
                        using var scope = torch.NewDisposeScope();
                        var t = TensorCodec.ToTorch(block.Tensor, field + ".tensor");
                        chunk.Add(ImageConform.ToModelInput(t, input.Channels, input.Height, input.Width, field + ".tensor.shape").DetachFromDisposeScope());
                        for (long i = 0; i < n; i++) chunkIds.Add(block.Ids.Count > 0 ? block.Ids[(int)i] : (images + i).ToString());
                        images += n;
                        break;
                    }
                    case EmbedImagesRequest.PartOneofCase.Config:
                        throw new InvalidInputException("config", "may only be sent as the first message");
                    default:
                        throw new InvalidInputException("part", "message carries neither an image nor an image block");
                }
                if (chunkIds.Count >= _options.ChunkRows) await Submit();
            }
            validator.Complete();
            if (images == 0) throw new InvalidInputException("images", "stream has no images after the config");
            await Submit();
            while (pending.Count > 0) await WriteOldest();
        }
        finally
        {
            foreach (var c in chunk) c.Dispose();
            while (pending.Count > 0)
            {
                var (task, _, _) = pending.Dequeue();
                try { foreach (var o in (await task).Values) o.Dispose(); } catch { /* the call already failed */ }
            }
        }
    }

    public override async Task EmbedText(EmbedTextRequest request, IServerStreamWriter<TensorBlock> responseStream, ServerCallContext context)
    {
        var encoder = registry.Text(request.Model, "model");
        if (request.Texts.Count == 0) throw new InvalidInputException("texts", "at least one text is required");
        for (int i = 0; i < request.Texts.Count; i++)
            if (string.IsNullOrWhiteSpace(request.Texts[i])) throw new InvalidInputException($"texts[{i}]", "must not be empty");
        if (request.Ids.Count != 0 && request.Ids.Count != request.Texts.Count)
            throw new InvalidInputException("ids", $"has {request.Ids.Count} entries for {request.Texts.Count} texts");
        using var embeddings = await Task.Run(() => encoder.Encode(request.Texts, context.CancellationToken), context.CancellationToken);
        var ids = request.Ids.Count == 0 ? null : request.Ids.ToList();
        foreach (var block in TensorStreams.Split(embeddings, "sentence", ids, BlockBytes(request.MaxBlockBytes)))
            await responseStream.WriteAsync(block, context.CancellationToken);
    }

    public override Task EmbedDataset(EmbedDatasetRequest request, IServerStreamWriter<JobEvent> responseStream, ServerCallContext context) =>
        embedJob.RunAsync(request, responseStream, context.CancellationToken);

    public override Task TrainBackbone(TrainBackboneRequest request, IServerStreamWriter<JobEvent> responseStream, ServerCallContext context) =>
        trainJob.RunAsync(request, responseStream, context.CancellationToken);

    public override Task<ArtifactInfo> ImportDataset(IAsyncStreamReader<ImportDatasetRequest> requestStream, ServerCallContext context) =>
        importer.ImportAsync(TensorStreams.ReadAll(requestStream, context.CancellationToken), context.CancellationToken);
}
