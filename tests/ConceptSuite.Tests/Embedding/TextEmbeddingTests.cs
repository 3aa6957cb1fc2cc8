using ConceptSuite.Contracts;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Tests.Infrastructure;
using Grpc.Core;
using TorchSharp;

namespace ConceptSuite.Tests.Embedding;

public class TextEmbeddingTests
{
    [Fact]
    public async Task MiniLm_puts_paraphrases_closer_than_unrelated_sentences()
    {
        await using var server = await SuiteTestServer.StartAsync("embedding");
        var client = new EmbeddingService.EmbeddingServiceClient(server.Channel);
        var request = new EmbedTextRequest
        {
            Texts =
            {
                "A man is playing the guitar.",
                "Someone is strumming a guitar.",
                "The stock market fell sharply today.",
                "a photo of a sneaker",
                "a picture of an athletic shoe",
                "a bowl of hot soup",
            },
        };
        request.Ids.Add(Enumerable.Range(0, 6).Select(i => $"t{i}"));
        using var call = client.EmbedText(request);
        var (e, ids) = await TensorStreams.AssembleAsync(TensorStreams.ReadAll(call.ResponseStream));
        Assert.Equal([6L, 384], e.shape);
        Assert.Equal("t5", ids[5]);
        var norms = e.norm(1).data<float>().ToArray();
        foreach (var n in norms) Assert.InRange(n, 0.999f, 1.001f);   // L2-normalised
        var sim = e.matmul(e.t());
        float S(int a, int b) => sim[a, b].item<float>();
        Console.WriteLine($"minilm cos: guitar/guitar {S(0, 1):F3} guitar/stocks {S(0, 2):F3} sneaker/shoe {S(3, 4):F3} sneaker/soup {S(3, 5):F3}");
        Assert.True(S(0, 1) > S(0, 2) + 0.3f, $"paraphrase {S(0, 1)} vs unrelated {S(0, 2)}");
        Assert.True(S(3, 4) > S(3, 5) + 0.2f, $"paraphrase {S(3, 4)} vs unrelated {S(3, 5)}");

        var bad = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var c = client.EmbedText(new EmbedTextRequest { Texts = { "ok", " " } });
            await c.ResponseStream.MoveNext(CancellationToken.None);
        });
        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
        Assert.Contains("texts[1]", bad.Status.Detail);
        var unknown = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var c = client.EmbedText(new EmbedTextRequest { Model = "nope", Texts = { "x" } });
            await c.ResponseStream.MoveNext(CancellationToken.None);
        });
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
    }
}
