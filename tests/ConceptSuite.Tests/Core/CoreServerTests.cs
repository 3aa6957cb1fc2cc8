using System.Security.Cryptography;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Tests.Infrastructure;
using Grpc.Core;
using Grpc.Health.V1;
using Google.Protobuf;

namespace ConceptSuite.Tests.Core;

public class CoreServerTests
{
    static HostTensor RandomTensor(int rows, int cols, int seed)
    {
        var rng = new Random(seed);
        var v = new float[rows * cols];
        for (int i = 0; i < v.Length; i++) v[i] = (float)rng.NextDouble();
        return HostTensor.FromFloats(v, rows, cols);
    }

    [Fact]
    public async Task EchoReturnsTheSameBytesInTheSameBlocks()
    {
        await using var server = await SuiteTestServer.StartAsync("all");
        var client = new TensorTransport.TensorTransportClient(server.Channel);
        var tensor = RandomTensor(3000, 100, 1); // 1.2 MB: several blocks at 256 KiB
        using var call = client.Echo();
        var sending = Task.Run(async () =>
        {
            await TensorStreamClient.WriteAsync(call.RequestStream, tensor, maxBlockBytes: 256 << 10);
            await call.RequestStream.CompleteAsync();
        });
        var back = await TensorStreamClient.ReadAsync(call.ResponseStream);
        await sending;
        Assert.Equal(tensor.Shape, back.Shape);
        Assert.Equal(tensor.Data, back.Data);
    }

    [Fact]
    public async Task SinkCountsRowsBytesAndHashesThePayload()
    {
        await using var server = await SuiteTestServer.StartAsync("all");
        var client = new TensorTransport.TensorTransportClient(server.Channel);
        var tensor = RandomTensor(5000, 64, 2);
        using var call = client.Sink(new Metadata { { "x-sha256", "1" } });
        await TensorStreamClient.WriteAsync(call.RequestStream, tensor);
        await call.RequestStream.CompleteAsync();
        var summary = await call;
        Assert.Equal(5000, summary.Rows);
        Assert.Equal(tensor.Data.Length, summary.Bytes);
        Assert.Equal(new long[] { 5000, 64 }, summary.Shape.ToArray());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(tensor.Data)), summary.Sha256);
    }

    [Fact]
    public async Task BadStreamIsInvalidArgumentNamingTheFieldAndTheServerKeepsServing()
    {
        await using var server = await SuiteTestServer.StartAsync("all");
        var client = new TensorTransport.TensorTransportClient(server.Channel);
        using (var call = client.Sink())
        {
            var blocks = RandomTensor(10, 4, 3).ToBlocks(maxBlockBytes: 64).ToList();
            await call.RequestStream.WriteAsync(blocks[0]);
            await call.RequestStream.WriteAsync(blocks[2]); // skips rows 4..7
            var e = await Assert.ThrowsAsync<RpcException>(async () => { await call.RequestStream.CompleteAsync(); await call; });
            Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
            Assert.Equal("blocks[1].row_offset: gap: expected row 4, got 8", e.Status.Detail);
        }
        // Still serving.
        using var ok = client.Sink();
        await TensorStreamClient.WriteAsync(ok.RequestStream, RandomTensor(2, 2, 4));
        await ok.RequestStream.CompleteAsync();
        Assert.Equal(2, (await ok).Rows);
    }

    [Fact]
    public async Task MessagesOverTheConfiguredLimitAreRefused()
    {
        await using var server = await SuiteTestServer.StartAsync("all", null, ("ConceptSuite:MaxMessageBytes", (2 << 20).ToString()));
        var client = new TensorTransport.TensorTransportClient(server.Channel);
        using var call = client.Sink();
        var big = RandomTensor(1024, 1024, 5); // one 4 MiB block
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await TensorStreamClient.WriteAsync(call.RequestStream, big, maxBlockBytes: 8 << 20);
            await call.RequestStream.CompleteAsync();
            await call;
        });
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
    }

    [Fact]
    public async Task ArtifactsUploadDownloadListAndDeleteOverGrpc()
    {
        await using var server = await SuiteTestServer.StartAsync("all");
        var client = new ArtifactService.ArtifactServiceClient(server.Channel);
        var tensor = RandomTensor(2500, 128, 6);
        ArtifactInfo info;
        using (var put = client.PutArtifact())
        {
            await put.RequestStream.WriteAsync(new PutArtifactRequest { Header = new PutArtifactHeader { Kind = "activations", MetadataJson = """{"tap":"pool"}""" } });
            foreach (var b in tensor.ToBlocks("activations", 100_000))
                await put.RequestStream.WriteAsync(new PutArtifactRequest { Block = b });
            await put.RequestStream.CompleteAsync();
            info = await put;
        }
        Assert.Equal(new long[] { 2500, 128 }, info.Tensors.Single().Shape.ToArray());

        using var get = client.GetArtifact(new GetArtifactRequest { Id = info.Ref.Id, MaxBlockBytes = 200_000 });
        Assert.True(await get.ResponseStream.MoveNext());
        Assert.Equal(info.Ref.Id, get.ResponseStream.Current.Info.Ref.Id);
        var blocks = new List<TensorBlock>();
        while (await get.ResponseStream.MoveNext()) blocks.Add(get.ResponseStream.Current.Block);
        Assert.Equal(7, blocks.Count); // 200 000 B budget, 512 B rows: 390 rows per block
        var back = (await TensorStreamClient.ReadAllAsync(blocks.ToAsyncEnumerable()))["activations"];
        Assert.Equal(tensor.Data, back.Data);

        var list = await client.ListArtifactsAsync(new ListArtifactsRequest { Kind = "activations" });
        Assert.Contains(list.Artifacts, a => a.Ref.Id == info.Ref.Id);
        Assert.True((await client.DeleteArtifactAsync(new DeleteArtifactRequest { Id = info.Ref.Id })).Deleted);
        var missing = await Assert.ThrowsAsync<RpcException>(async () => await client.GetArtifactInfoAsync(new GetArtifactInfoRequest { Id = info.Ref.Id }));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
        var bad = await Assert.ThrowsAsync<RpcException>(async () => await client.GetArtifactInfoAsync(new GetArtifactInfoRequest { Id = "../x" }));
        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
        Assert.Equal("id: must be 64 lowercase hex characters (a sha256 content id)", bad.Status.Detail);
    }

    [Fact]
    public async Task FailedUploadLeavesNoArtifact()
    {
        await using var server = await SuiteTestServer.StartAsync("all");
        var client = new ArtifactService.ArtifactServiceClient(server.Channel);
        using (var put = client.PutArtifact())
        {
            await put.RequestStream.WriteAsync(new PutArtifactRequest { Header = new PutArtifactHeader { Kind = "activations" } });
            var blocks = RandomTensor(100, 8, 7).ToBlocks("a", 320).ToList();
            await put.RequestStream.WriteAsync(new PutArtifactRequest { Block = blocks[0] });
            var wrong = blocks[1].Clone();
            wrong.Tensor.Dtype = DType.Int32;
            await put.RequestStream.WriteAsync(new PutArtifactRequest { Block = wrong });
            var e = await Assert.ThrowsAsync<RpcException>(async () => { await put.RequestStream.CompleteAsync(); await put; });
            Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        }
        var list = await client.ListArtifactsAsync(new ListArtifactsRequest());
        Assert.Empty(list.Artifacts);
        var artifacts = Path.Combine(server.DataDir, "artifacts");
        Assert.Empty(Directory.EnumerateFiles(artifacts, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task HealthAndReflectionAreServed()
    {
        await using var server = await SuiteTestServer.StartAsync("all");
        var health = new Health.HealthClient(server.Channel);
        var r = await health.CheckAsync(new HealthCheckRequest { Service = "" });
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, r.Status);
        var reflection = new Grpc.Reflection.V1Alpha.ServerReflection.ServerReflectionClient(server.Channel);
        using var call = reflection.ServerReflectionInfo();
        await call.RequestStream.WriteAsync(new Grpc.Reflection.V1Alpha.ServerReflectionRequest { ListServices = "" });
        await call.RequestStream.CompleteAsync();
        Assert.True(await call.ResponseStream.MoveNext());
        var services = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToList();
        Assert.Contains("conceptsuite.v1.TensorTransport", services);
        Assert.Contains("conceptsuite.v1.ArtifactService", services);
    }
}
