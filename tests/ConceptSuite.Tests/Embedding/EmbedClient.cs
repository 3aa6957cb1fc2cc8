using ConceptSuite.Contracts;
using ConceptSuite.Core.Tensors;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using TorchSharp;

namespace ConceptSuite.Tests.Embedding;

/// <summary>Test-side helpers around EmbeddingService calls.</summary>
public static class EmbedClient
{
    /// <summary>Streams uint8 [N, C, H, W] images as row blocks and assembles the returned taps.</summary>
    public static Task<Dictionary<string, (torch.Tensor Tensor, List<string> Ids)>> EmbedTensorsAsync(
        GrpcChannel channel, string model, torch.Tensor images, IEnumerable<string>? taps = null, int rowsPerBlock = 64, string idPrefix = "img") =>
        EmbedAsync(channel, model, taps, async requests =>
        {
            long n = images.shape[0];
            var ids = Enumerable.Range(0, (int)n).Select(i => $"{idPrefix}{i}").ToList();
            var contiguous = images.contiguous();
            long rowBytes = contiguous.numel() * contiguous.element_size() / Math.Max(1, n);
            foreach (var block in TensorStreams.Split(contiguous, "", ids, (int)(rowBytes * rowsPerBlock)))
                await requests.WriteAsync(new EmbedImagesRequest { Images = block });
        });

    /// <summary>Sends encoded images one message each.</summary>
    public static Task<Dictionary<string, (torch.Tensor Tensor, List<string> Ids)>> EmbedEncodedAsync(
        GrpcChannel channel, string model, IReadOnlyList<byte[]> images, IEnumerable<string>? taps = null) =>
        EmbedAsync(channel, model, taps, async requests =>
        {
            for (int i = 0; i < images.Count; i++)
                await requests.WriteAsync(new EmbedImagesRequest { Image = new EncodedImage { Id = $"png{i}", Data = ByteString.CopyFrom(images[i]) } });
        });

    /// <summary>One EmbedImages call: the config, then what <paramref name="send"/> writes; the returned taps assembled.</summary>
    static async Task<Dictionary<string, (torch.Tensor Tensor, List<string> Ids)>> EmbedAsync(
        GrpcChannel channel, string model, IEnumerable<string>? taps, Func<IClientStreamWriter<EmbedImagesRequest>, Task> send)
    {
        var client = new EmbeddingService.EmbeddingServiceClient(channel);
        using var call = client.EmbedImages();
        var config = new EmbedImagesConfig { Model = model };
        if (taps is not null) config.Taps.Add(taps);
        // Read while writing: a bidirectional call whose responses are not drained stalls the server.
        var responses = TensorStreams.AssembleAllAsync(TensorStreams.ReadAll(call.ResponseStream));
        await call.RequestStream.WriteAsync(new EmbedImagesRequest { Config = config });
        await send(call.RequestStream);
        await call.RequestStream.CompleteAsync();
        return await responses;
    }

    /// <summary>An ImportDataset call: the header, then <paramref name="rows"/>.</summary>
    public static async Task<ArtifactInfo> ImportAsync(EmbeddingService.EmbeddingServiceClient client, ImportDatasetHeader header, params ImportDatasetRequest[] rows)
    {
        using var call = client.ImportDataset();
        await call.RequestStream.WriteAsync(new ImportDatasetRequest { Header = header });
        foreach (var r in rows) await call.RequestStream.WriteAsync(r);
        await call.RequestStream.CompleteAsync();
        return await call.ResponseAsync;
    }

    /// <summary>Runs a job call to its end; returns all events (throws the call's RpcException on failure).</summary>
    public static async Task<List<JobEvent>> DrainAsync(AsyncServerStreamingCall<JobEvent> call, Func<JobEvent, bool>? stopAfter = null)
    {
        var events = new List<JobEvent>();
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            events.Add(call.ResponseStream.Current);
            if (stopAfter?.Invoke(call.ResponseStream.Current) == true) break;
        }
        return events;
    }

    /// <summary>Nearest-centroid accuracy: class means of the train rows, each test row to the closest mean.</summary>
    public static double NearestCentroidAccuracy(torch.Tensor trainX, torch.Tensor trainY, torch.Tensor testX, torch.Tensor testY, int classes)
    {
        using var scope = torch.NewDisposeScope();
        var centroids = torch.stack(Enumerable.Range(0, classes).Select(c => trainX.index_select(0, trainY.eq(c).nonzero().squeeze(1)).mean([0])).ToList(), 0);
        var predicted = torch.cdist(testX, centroids).argmin(1);
        return predicted.eq(testY).to_type(torch.ScalarType.Float64).mean().item<double>();
    }
}
