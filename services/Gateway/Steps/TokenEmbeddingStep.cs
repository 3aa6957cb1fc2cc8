using System.Runtime.InteropServices;
using System.Text.Json;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Data;
using ConceptSuite.Core.Methods;
using Grpc.Core;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// EmbeddingService.EmbedText at token level over a "texts" artifact: the residual stream of a
/// token model (MiniLM) at one tap, one row per real token (padding never counts). Stored as an
/// "activations" artifact: tensors "activations" float32 [M, D], "labels" int64 [M] (the label of
/// each token's text), "text_rows" int64 [M] (its text) and "positions" int64 [M] (its place in
/// the text's tokens); metadata {"type": "token-activations", "model", "tap", "texts", "class_names",
/// "tokens": [WordPiece string per row]}. Metrics: texts, tokens, dims.
/// </summary>
public sealed class TokenEmbeddingStep(TokenEmbeddingStep.Options options) : IStepExecutor
{
    /// <summary>The step's options, parsed once against <see cref="Schema"/>.</summary>
    public sealed record Options(string Model, string Tap, int Chunk)
    {
        public static readonly IReadOnlyList<OptionSpec> Schema =
        [
            OptionSpec.Text("model", "minilm", "the token model"),
            OptionSpec.Text("tap", "layer2", "the residual-stream tap (MiniLM: embeddings, layer0 … layer5; layer2 is after 3 of its 6 blocks)"),
            OptionSpec.Int("chunk", 256, "texts per EmbedText call", 1, 4096),
        ];

        public static Options From(OptionValues o) => new(o.Text("model"), o.Text("tap"), o.Int("chunk"));
    }

    /// <summary>The texts of a "texts" artifact, with its labels and metadata.</summary>
    public static async Task<(List<string> Texts, long[] Labels, ArtifactInfo Info)> ReadTextsAsync(StepContext ctx, string id, string field)
    {
        var (info, tensors) = await ArtifactTransfer.ReadSmallAsync(ctx.StoreChannel, id, null, ctx.CancellationToken);
        if (info.Ref.Kind != TextDataset.Kind) throw new InvalidInputException(field, $"artifact {id[..Math.Min(12, id.Length)]} is a '{info.Ref.Kind}', not '{TextDataset.Kind}'");
        var texts = TextDataset.Decode(tensors["utf8"].Data, tensors["offsets"].Span<long>());
        return (texts, tensors["labels"].Span<long>().ToArray(), info);
    }

    /// <summary>One EmbedText request's reply: the stream's blocks assembled by name.</summary>
    public static async Task<Dictionary<string, HostTensor>> TokensAsync(StepContext ctx, EmbedTextRequest request)
    {
        var client = new EmbeddingService.EmbeddingServiceClient(ctx.Stages.Channel("embedding"));
        using var call = client.EmbedText(request, cancellationToken: ctx.CancellationToken);
        return await TensorStreamClient.ReadAllAsync(call.ResponseStream.ReadAllAsync(ctx.CancellationToken), ctx.CancellationToken);
    }

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var textsId = ctx.Input("texts");
        var (texts, labels, info) = await ReadTextsAsync(ctx, textsId, $"steps.{ctx.Step}.inputs.texts");
        var acts = new List<byte[]>();
        var tokens = new List<string>();
        var rowLabels = new List<long>();
        var textRows = new List<long>();
        var positions = new List<long>();
        long dims = 0;
        for (int start = 0; start < texts.Count; start += options.Chunk)
        {
            var request = new EmbedTextRequest { Model = options.Model, TokenTap = options.Tap };
            request.Texts.AddRange(texts.Skip(start).Take(options.Chunk));
            Dictionary<string, HostTensor> r;
            try { r = await TokensAsync(ctx, request); }
            catch (RpcException e) when (e.StatusCode == StatusCode.InvalidArgument && e.Status.Detail.StartsWith("token_tap", StringComparison.Ordinal))
            {
                throw new InvalidInputException(ctx.OptionField("tap"), e.Status.Detail);
            }
            var t = r["tokens"];
            dims = t.Shape[1];
            acts.Add(t.Data);
            tokens.AddRange(t.Ids);
            foreach (var row in r["text_rows"].Span<long>().ToArray())
            {
                textRows.Add(start + row);
                rowLabels.Add(labels[start + row]);
            }
            positions.AddRange(r["positions"].Span<long>().ToArray());
            ctx.Progress(Math.Min(start + options.Chunk, texts.Count), texts.Count, "texts", "embed tokens");
        }
        long m = tokens.Count;
        var all = new byte[acts.Sum(a => (long)a.Length)];
        int at = 0;
        foreach (var a in acts) { a.CopyTo(all, at); at += a.Length; }
        var meta = JsonSerializer.Serialize(new
        {
            type = "token-activations", model = options.Model, tap = options.Tap, texts = textsId,
            class_names = StepMetadata.Strings(info.MetadataJson, "class_names"), tokens,
        });
        static HostTensor Longs(List<long> v) => new(DType.Int64, [v.Count], MemoryMarshal.AsBytes(CollectionsMarshal.AsSpan(v)).ToArray(), []);
        var blocks = new HostTensor(DType.Float32, [m, dims], all, []).ToBlocks("activations", ctx.BlockBytes)
            .Concat(Longs(rowLabels).ToBlocks("labels", ctx.BlockBytes))
            .Concat(Longs(textRows).ToBlocks("text_rows", ctx.BlockBytes))
            .Concat(Longs(positions).ToBlocks("positions", ctx.BlockBytes));
        var stored = await ArtifactTransfer.PutAsync(ctx.StoreChannel, "activations", meta,
            new Dictionary<string, string> { ["producer"] = "gateway/embedding.tokens" }, ArtifactTransfer.AsAsync(blocks, ctx.CancellationToken), ctx.CancellationToken);
        return new StepResult(new Dictionary<string, ArtifactRef> { ["activations"] = stored.Ref },
            new Dictionary<string, double> { ["texts"] = texts.Count, ["tokens"] = m, ["dims"] = dims });
    }
}
