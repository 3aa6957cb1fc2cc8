using ConceptSuite.Contracts;
using ConceptSuite.Core.Hosting;
using ConceptSuite.Core.Limits;
using ConceptSuite.Core.Methods;
using ConceptSuite.Core.Streaming;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Embedding.Data;
using ConceptSuite.Embedding.Images;
using ConceptSuite.Embedding.Inference;
using ConceptSuite.Embedding.Jobs;
using ConceptSuite.Embedding.Models;
using ConceptSuite.Embedding.Text;
using Grpc.Core;
using Microsoft.Extensions.Options;
using TorchSharp;

namespace ConceptSuite.Embedding;

/// <summary>conceptsuite.v1.EmbeddingService: validates, calls the registry, batcher and jobs, streams.</summary>
public sealed class EmbeddingGrpcService(ModelRegistry registry, ModelRegistration registration, DatasetImporter importer, EmbedDatasetJob embedJob,
    TrainBackboneJob trainJob, MethodCatalog catalog, RequestBudget budget, IOptions<SuiteOptions> suite, IOptions<EmbeddingOptions> options)
    : EmbeddingService.EmbeddingServiceBase
{
    readonly SuiteOptions _suite = suite.Value;
    readonly EmbeddingOptions _options = options.Value;

    public override Task<ListMethodsResponse> ListMethods(ListMethodsRequest request, ServerCallContext context) =>
        Task.FromResult(catalog.List(EmbeddingStage.Name, request));

    public override Task<ListModelsResponse> ListModels(ListModelsRequest request, ServerCallContext context)
    {
        var r = new ListModelsResponse();
        r.Models.AddRange(registry.List(request.Kind));
        return Task.FromResult(r);
    }

    public override Task<ModelDescriptor> GetModel(GetEmbeddingModelRequest request, ServerCallContext context) =>
        Task.FromResult(registry.Describe(request.Name, "name"));

    public override async Task EmbedImages(IAsyncStreamReader<EmbedImagesRequest> requestStream, IServerStreamWriter<TensorBlock> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var (config, parts) = await ConfigFirstStream.ReadPartsAsync(requestStream, r => r.Config,
            r => r.PartCase == EmbedImagesRequest.PartOneofCase.Config ? null : r, ct);
        using var model = registry.Acquire(config.Model, "config.model");
        var backbone = model.Value.Backbone;
        var taps = backbone.Resolve(config.Taps, "config.taps");
        var input = backbone.Input;
        var validator = new TensorStreamValidator(new TensorStreamRules
        {
            Field = "images", RejectNonFinite = true, RequiredRank = 4, RejectEmpty = false, MaxTotalBytes = _suite.MaxStreamBytes,
        });
        await using var pipeline = new EmbeddingPipeline(model.Value.Batcher, taps, _options.ChunkRows,
            _suite.BlockBytesFor(config.MaxBlockBytes), responseStream, ct);
        await foreach (var msg in parts)
        {
            long at = pipeline.Rows;
            switch (msg.PartCase)
            {
                case EmbedImagesRequest.PartOneofCase.Image:
                {
                    string field = $"images[{at}].data";
                    var rows = TensorScope.Keep(() =>
                    {
                        var chw = ImageCodec.Decode(msg.Image.Data.Span, input.Channels, _options.MaxImageSide, field);
                        return ImageConform.ToModelInput(chw.unsqueeze(0), input.Channels, input.Height, input.Width, field);
                    });
                    await pipeline.AddAsync(rows, [string.IsNullOrEmpty(msg.Image.Id) ? at.ToString() : msg.Image.Id]);
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
                    // Budget before allocation: a row conformed is float32 at the source size, then at the model's input.
                    long rowBytes = 4 * (RequestBudget.Product(shape[1], shape[2], shape[3]) + (long)input.Channels * input.Height * input.Width);
                    budget.Bytes(field + ".tensor.shape", n, rowBytes, "images");
                    // Conformed in chunks: at most three (the one being built, two in flight) are held at once.
                    long chunk = budget.ChunkRows(field + ".tensor.shape", rowBytes, _options.ChunkRows, 3);
                    using var all = TensorScope.Keep(() => TensorCodec.ToTorch(block.Tensor, field + ".tensor"));
                    for (long s = 0; s < n; s += chunk)
                    {
                        long start = s, count = Math.Min(chunk, n - s);
                        var rows = TensorScope.Keep(() => ImageConform.ToModelInput(all.narrow(0, start, count), input.Channels, input.Height,
                            input.Width, field + ".tensor.shape").clone());
                        await pipeline.AddAsync(rows, Enumerable.Range((int)start, (int)count).Select(i => block.Ids.Count > 0 ? block.Ids[i] : (at + i).ToString()));
                    }
                    break;
                }
                default:
                    throw new InvalidInputException("part", "message carries neither an image nor an image block");
            }
        }
        validator.Complete();
        if (pipeline.Rows == 0) throw new InvalidInputException("images", "stream has no images after the config");
        await pipeline.CompleteAsync();
    }

    public override async Task EmbedText(EmbedTextRequest request, IServerStreamWriter<TensorBlock> responseStream, ServerCallContext context)
    {
        var encoder = registry.Text(request.Model, "model");
        RequestBudget.Count("texts", request.Texts.Count, _options.MaxTexts);
        if (request.Texts.Count == 0) throw new InvalidInputException("texts", "at least one text is required");
        long chars = 0;
        for (int i = 0; i < request.Texts.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(request.Texts[i])) throw new InvalidInputException($"texts[{i}]", "must not be empty");
            if (request.Texts[i].Length > _options.MaxTextChars)
                throw new InvalidInputException($"texts[{i}]", $"has {request.Texts[i].Length} characters; at most {_options.MaxTextChars} (ConceptSuite:Embedding:MaxTextChars)");
            // A text has at most one token per character plus [CLS] and [SEP], and at most the token limit.
            chars += Math.Min(request.Texts[i].Length + 2, _options.MaxTextTokens);
        }
        if (request.Ids.Count != 0 && request.Ids.Count != request.Texts.Count)
            throw new InvalidInputException("ids", $"has {request.Ids.Count} entries for {request.Texts.Count} texts");
        // Budget before the forward pass: every text padded to the longest, float32 per dimension, held by
        // ONNX Runtime, copied once, and the real-token rows taken out of the copy.
        long longest = request.Texts.Max(t => Math.Min(t.Length + 2, _options.MaxTextTokens));
        budget.Bytes("texts", RequestBudget.Product(3, request.Texts.Count, longest, encoder.Dimension, 4));
        var ct = context.CancellationToken;
        int blockBytes = _suite.BlockBytesFor(request.MaxBlockBytes);
        if (request.TokenTap.Length > 0)
        {
            if (encoder is not MiniLmEncoder minilm) throw new InvalidInputException("token_tap", $"text model '{encoder.Name}' has no token taps");
            MiniLmTokenModel.CheckTap(request.TokenTap, "token_tap");
            if (request.Ids.Count != 0) throw new InvalidInputException("ids", "token mode names rows by their tokens; send no ids");
            var results = await Task.Run(() => TextTokens.Run(minilm.Tokens, request.Texts, request.TokenTap, request.Replacement, ct), ct);
            try { await TensorReplies.WriteAsync(responseStream, results, blockBytes, b => b, ct); }
            finally { foreach (var r in results) r.Tensor.Dispose(); }
            return;
        }
        if (request.Replacement is not null) throw new InvalidInputException("replacement", "needs token_tap (the tap the rows replace)");
        using var embeddings = await Task.Run(() => encoder.Encode(request.Texts, ct), ct);
        var ids = request.Ids.Count == 0 ? null : request.Ids.ToList();
        await TensorReplies.WriteAsync(responseStream, [new NamedTensor("sentence", embeddings, ids)], blockBytes, b => b, ct);
    }

    public override Task EmbedDataset(EmbedDatasetRequest request, IServerStreamWriter<JobEvent> responseStream, ServerCallContext context) =>
        embedJob.RunAsync(request, responseStream, context.CancellationToken);

    public override Task TrainBackbone(TrainBackboneRequest request, IServerStreamWriter<JobEvent> responseStream, ServerCallContext context) =>
        trainJob.RunAsync(request, responseStream, context.CancellationToken);

    public override Task<ArtifactInfo> ImportDataset(IAsyncStreamReader<ImportDatasetRequest> requestStream, ServerCallContext context) =>
        importer.ImportAsync(TensorStreams.ReadAll(requestStream, context.CancellationToken), context.CancellationToken);

    public override Task<RegisterModelResponse> RegisterModel(IAsyncStreamReader<RegisterModelRequest> requestStream, ServerCallContext context) =>
        registration.RegisterAsync(requestStream, context.CancellationToken);
}
