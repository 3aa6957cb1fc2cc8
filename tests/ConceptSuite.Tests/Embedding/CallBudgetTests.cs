using System.Diagnostics;
using ConceptSuite.Contracts;
using ConceptSuite.Embedding.Inference;
using ConceptSuite.Embedding.Models;
using ConceptSuite.Tests.Infrastructure;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using TorchSharp;

namespace ConceptSuite.Tests.Embedding;

[Collection(MemoryMeasuredCollection.Name)]
public class CallBudgetTests
{
    const long Budget = 1L << 30;

    static EmbedImagesRequest Config() => new() { Config = new EmbedImagesConfig { Model = "resnet18" } };

    static EmbedImagesRequest Block(long[] shape)
    {
        var t = new Tensor { Dtype = DType.Uint8, Data = ByteString.CopyFrom(new byte[shape.Aggregate(1L, (a, b) => a * b)]) };
        t.Shape.Add(shape);
        return new EmbedImagesRequest { Images = new TensorBlock { Tensor = t } };
    }

    static async Task<long> EmbedRowsAsync(EmbeddingService.EmbeddingServiceClient client, params EmbedImagesRequest[] messages)
    {
        using var call = client.EmbedImages();
        foreach (var m in messages) await call.RequestStream.WriteAsync(m);
        await call.RequestStream.CompleteAsync();
        long rows = 0;
        while (await call.ResponseStream.MoveNext(CancellationToken.None)) rows += call.ResponseStream.Current.Tensor.Shape[0];
        return rows;
    }

    [Fact]
    public async Task A_3000_row_block_of_one_pixel_images_is_refused_in_milliseconds_naming_the_field_and_the_budget_with_flat_rss()
    {
        await using var server = await SuiteTestServer.StartAsync("embedding", null, ("ConceptSuite:MaxCallBytes", Budget.ToString()));
        var client = new EmbeddingService.EmbeddingServiceClient(server.Channel);
        Assert.Equal(4, await EmbedRowsAsync(client, Config(), Block([4, 1, 28, 28])));   // loads the model

        // 3000 uint8 bytes on the wire; conformed to [3000, 3, 224, 224] float32 they would be 1.8 GB
        // (and ResNet18's forward pass on all of them at once grew a process to 24 GB).
        PeakRss.Reset();
        long before = PeakRss.CurrentBytes();
        var watch = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<RpcException>(() => EmbedRowsAsync(client, Config(), Block([3000, 1, 1, 1])));
        watch.Stop();
        long grown = PeakRss.PeakBytes() - before;

        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("images[0].tensor.shape", e.Status.Detail);
        Assert.Contains(Budget.ToString(), e.Status.Detail);
        Assert.Contains("3000 images × 602116 bytes", e.Status.Detail);
        Assert.True(watch.ElapsedMilliseconds < 1000, $"refused after {watch.ElapsedMilliseconds} ms");
        Assert.True(grown < 64L << 20, $"peak RSS grew by {grown >> 20} MiB during the call");

        // Still serving.
        Assert.Equal(2, await EmbedRowsAsync(client, Config(), Block([2, 1, 28, 28])));
    }

    [Fact]
    public async Task A_block_within_the_budget_runs_in_chunks_of_at_most_the_batch_size_and_rss_stays_bounded()
    {
        await using var server = await SuiteTestServer.StartAsync("embedding", null, ("ConceptSuite:MaxCallBytes", Budget.ToString()),
            ("ConceptSuite:Embedding:MaxBatch", "8"), ("ConceptSuite:Embedding:ChunkRows", "8"));
        var client = new EmbeddingService.EmbeddingServiceClient(server.Channel);
        Assert.Equal(8, await EmbedRowsAsync(client, Config(), Block([8, 1, 28, 28])));   // loads the model, sizes its arenas for 8 rows
        using var lease = server.Services.GetRequiredService<ModelRegistry>().Acquire("resnet18");
        var batcher = lease.Value.Batcher;

        // 120 rows: 72 MB conformed, within the budget; one forward pass over all of them would hold about 1 GB.
        PeakRss.Reset();
        long before = PeakRss.CurrentBytes();
        Assert.Equal(120, await EmbedRowsAsync(client, Config(), Block([120, 1, 1, 1])));
        long grown = PeakRss.PeakBytes() - before;

        Assert.Equal(8, batcher.LargestBatch);
        Assert.True(batcher.Stats.Batches >= 1 + 120 / 8, $"{batcher.Stats.Batches} forward passes");
        Assert.True(grown < 300L << 20, $"peak RSS grew by {grown >> 20} MiB during the call");
    }

    sealed class RowCountingBackbone : IBackbone
    {
        public List<long> Calls { get; } = [];
        public string Name => "rows";
        public string Version => "1";
        public string Kind => "builtin";
        public string Source => "test";
        public InputSpec Input => new(1, 2, 2, "");
        public long WeightBytes => 0;
        public IReadOnlyList<TapSpec> Taps => [];
        public bool HasTap(string tap) => true;

        public Dictionary<string, torch.Tensor> Forward(torch.Tensor pixels, IReadOnlyList<string> taps)
        {
            lock (Calls) Calls.Add(pixels.shape[0]);
            return new() { ["sum"] = pixels.sum([1, 2, 3]).DetachFromDisposeScope() };
        }

        public void Dispose() { }
    }

    [Fact]
    public async Task The_micro_batcher_splits_a_request_larger_than_its_batch_and_keeps_the_rows_in_order()
    {
        var backbone = new RowCountingBackbone();
        await using var batcher = new MicroBatcher(backbone, 8, TimeSpan.FromMilliseconds(1));
        using var pixels = torch.arange(20 * 4, torch.ScalarType.Float32).view(20, 1, 2, 2);
        var outs = await batcher.RunAsync(pixels.clone(), ["sum"], CancellationToken.None);
        using var sum = outs["sum"];

        Assert.Equal([8L, 8, 4], backbone.Calls);
        Assert.Equal(8, batcher.LargestBatch);
        // Row i holds 4i, 4i+1, 4i+2, 4i+3: its sum is 16i + 6.
        Assert.Equal(Enumerable.Range(0, 20).Select(i => 16f * i + 6), sum.data<float>().ToArray());
    }
}
