using ConceptSuite.Contracts;
using ConceptSuite.Tests.Infrastructure;
using Google.Protobuf;
using Grpc.Core;
using TorchSharp;

namespace ConceptSuite.Tests.Embedding;

public class BadInputTests
{
    static async Task<RpcException> EmbedFails(EmbeddingService.EmbeddingServiceClient client, params EmbedImagesRequest[] messages)
    {
        return await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var call = client.EmbedImages();
            foreach (var m in messages) await call.RequestStream.WriteAsync(m);
            await call.RequestStream.CompleteAsync();
            while (await call.ResponseStream.MoveNext(CancellationToken.None)) { }
        });
    }

    static EmbedImagesRequest Config(string model, params string[] taps)
    {
        var c = new EmbedImagesConfig { Model = model };
        c.Taps.Add(taps);
        return new EmbedImagesRequest { Config = c };
    }

    static EmbedImagesRequest Block(DType dtype, long[] shape, byte[] data)
    {
        var t = new Tensor { Dtype = dtype, Data = ByteString.CopyFrom(data) };
        t.Shape.Add(shape);
        var b = new TensorBlock { Tensor = t };
        return new EmbedImagesRequest { Images = b };
    }

    [Fact]
    public async Task Bad_images_models_taps_and_paths_are_rejected_naming_the_field_and_the_server_keeps_serving()
    {
        var modelDir = Path.Combine(Path.GetTempPath(), "cs-models-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(modelDir);
        File.WriteAllText(Path.Combine(modelDir, "escape.json"), """{"kind": "onnx", "path": "../outside.onnx", "taps": [{"name": "x"}]}""");
        File.WriteAllText(Path.Combine(modelDir, "absolute.json"), """{"kind": "torchscript", "path": "/etc/passwd"}""");
        try
        {
            await using var server = await SuiteTestServer.StartAsync("embedding", null, ("ConceptSuite:Embedding:ModelDir", modelDir));
            var client = new EmbeddingService.EmbeddingServiceClient(server.Channel);

            var e = await EmbedFails(client, Config("resnet18"), new EmbedImagesRequest { Image = new EncodedImage { Id = "a", Data = ByteString.CopyFromUtf8("not an image") } });
            Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
            Assert.Contains("images[0].data", e.Status.Detail);

            e = await EmbedFails(client, Config("no-such-model"));
            Assert.Equal(StatusCode.NotFound, e.StatusCode);
            Assert.Contains("config.model", e.Status.Detail);

            e = await EmbedFails(client, Config("resnet18", "pool", "no_such_tap"));
            Assert.Equal(StatusCode.NotFound, e.StatusCode);
            Assert.Contains("config.taps[1]", e.Status.Detail);

            e = await EmbedFails(client);
            Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
            Assert.Contains("config", e.Status.Detail);

            e = await EmbedFails(client, Config("resnet18"));
            Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
            Assert.Contains("images", e.Status.Detail);

            var nan = new float[1 * 1 * 4 * 4];
            nan[5] = float.NaN;
            e = await EmbedFails(client, Config("resnet18"), Block(DType.Float32, [1, 1, 4, 4], System.Runtime.InteropServices.MemoryMarshal.AsBytes(nan.AsSpan()).ToArray()));
            Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
            Assert.Contains("images[0].tensor.data", e.Status.Detail);

            e = await EmbedFails(client, Config("resnet18"), Block(DType.Uint8, [1, 28, 28], new byte[784]));   // no channel dim
            Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
            Assert.Contains("images[0].tensor.shape", e.Status.Detail);

            e = await EmbedFails(client, Config("resnet18"), Block(DType.Uint8, [1, 2, 28, 28], new byte[2 * 784]));   // 2 channels
            Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
            Assert.Contains("images[0]", e.Status.Detail);

            e = await EmbedFails(client, Config("resnet18"), Block(DType.Uint8, [1, 1, 28, 28], new byte[700]));   // bytes do not match
            Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
            Assert.Contains("images[0].tensor.data", e.Status.Detail);

            var path = await Assert.ThrowsAsync<RpcException>(() => client.GetModelAsync(new GetModelRequest { Name = "escape" }).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, path.StatusCode);
            Assert.Contains("path", path.Status.Detail);
            Assert.Contains("outside the model directory", path.Status.Detail);
            path = await Assert.ThrowsAsync<RpcException>(() => client.GetModelAsync(new GetModelRequest { Name = "absolute" }).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, path.StatusCode);
            Assert.Contains("path", path.Status.Detail);

            var missing = await Assert.ThrowsAsync<RpcException>(() => client.GetModelAsync(new GetModelRequest { Name = "absent" }).ResponseAsync);
            Assert.Equal(StatusCode.NotFound, missing.StatusCode);

            // Still serving: a good request after all the bad ones.
            using var ok = torch.zeros(new long[] { 2, 1, 28, 28 }, torch.ScalarType.Byte);
            var result = await EmbedClient.EmbedTensorsAsync(server.Channel, "resnet18", ok);
            Assert.Equal([2L, 512], result["pool"].Tensor.shape);
        }
        finally { Directory.Delete(modelDir, true); }
    }
}
