using ConceptSuite.Contracts;
using ConceptSuite.Tests.Infrastructure;
using Grpc.Core;
using ArtifactClient = ConceptSuite.Contracts.ArtifactService.ArtifactServiceClient;

namespace ConceptSuite.Tests.Gateway;

/// <summary>The store's limits and garbage collection over gRPC, against a server's workflows.</summary>
public sealed class GarbageCollectionTests
{
    [Fact]
    public async Task CollectionDeletesWhatNoWorkflowOrPinKeepsAndRetentionReleasesOldWorkflows()
    {
        await using var server = await GatewayHarness.StartAsync("all", ("ConceptSuite:Store:GcMinAgeMinutes", "0"), ("ConceptSuite:Store:MinFreeBytes", "0"));
        var artifacts = new ArtifactClient(server.Channel);
        var input = await GatewayHarness.PutMatrixAsync(server.Channel, 8, 8);
        var stray = await GatewayHarness.PutMatrixAsync(server.Channel, 8, 9);
        var kept = await GatewayHarness.PutMatrixAsync(server.Channel, 8, 10);
        Assert.True((await artifacts.PinArtifactAsync(new PinArtifactRequest { Id = kept.Ref.Id, Pinned = true })).Pinned);
        var e = await Assert.ThrowsAsync<RpcException>(() => artifacts.DeleteArtifactAsync(new DeleteArtifactRequest { Id = kept.Ref.Id }).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);

        var spec = new WorkflowSpec { Name = "gc" };
        spec.Steps.Add(GatewayHarness.Step("echo", "transport.echo", "gateway", ("artifact", input.Ref.Id)));
        var done = (await GatewayHarness.RunAsync(server.Channel, new RunWorkflowRequest { Spec = spec })).Last().Finished;
        Assert.Equal(WorkflowState.Succeeded, done.State);

        var dry = await artifacts.CollectGarbageAsync(new CollectGarbageRequest { DryRun = true });
        Assert.Equal([stray.Ref.Id], dry.Deleted);
        var gc = await artifacts.CollectGarbageAsync(new CollectGarbageRequest());
        Assert.Equal([stray.Ref.Id], gc.Deleted);
        Assert.Equal(0, gc.ReleasedWorkflows);
        var left = (await artifacts.ListArtifactsAsync(new ListArtifactsRequest())).Artifacts.Select(a => a.Ref.Id).ToHashSet();
        Assert.Contains(input.Ref.Id, left);
        Assert.Contains(kept.Ref.Id, left);
        Assert.DoesNotContain(stray.Ref.Id, left);

        // A retention of one second: the finished workflow keeps nothing any more; the pin still holds.
        await Task.Delay(1100);
        var old = await artifacts.CollectGarbageAsync(new CollectGarbageRequest { WorkflowRetentionSeconds = 1 });
        Assert.Equal(1, old.ReleasedWorkflows);
        Assert.Contains(input.Ref.Id, old.Deleted);
        Assert.DoesNotContain(kept.Ref.Id, old.Deleted);
        var bad = await Assert.ThrowsAsync<RpcException>(() => artifacts.CollectGarbageAsync(new CollectGarbageRequest { MinAgeSeconds = -1 }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
        Assert.Contains("min_age_seconds", bad.Status.Detail);
    }

    [Fact]
    public async Task AProcessWithoutTheWorkflowsRefusesToCollect()
    {
        await using var server = await SuiteTestServer.StartAsync("discovery");
        var e = await Assert.ThrowsAsync<RpcException>(() => new ArtifactClient(server.Channel).CollectGarbageAsync(new CollectGarbageRequest()).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
    }

    /// <summary>An upload beyond the quota is RESOURCE_EXHAUSTED, leaves no temporary file, and the server keeps serving.</summary>
    [Fact]
    public async Task AnUploadBeyondTheQuotaIsResourceExhaustedAndTheServerKeepsServing()
    {
        await using var server = await GatewayHarness.StartAsync("gateway", ("ConceptSuite:Store:QuotaBytes", "300000"), ("ConceptSuite:Store:MinFreeBytes", "0"));
        var e = await Assert.ThrowsAsync<RpcException>(() => GatewayHarness.PutMatrixAsync(server.Channel, 400, 256));   // 409,600 bytes
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("quota", e.Status.Detail);
        var tmp = Path.Combine(server.DataDir, "artifacts", ".tmp");
        for (int i = 0; i < 100 && Directory.EnumerateFiles(tmp, "*", SearchOption.AllDirectories).Any(); i++) await Task.Delay(50);
        Assert.Empty(Directory.EnumerateFiles(tmp, "*", SearchOption.AllDirectories));
        var small = await GatewayHarness.PutMatrixAsync(server.Channel, 100, 256);
        Assert.Equal(102_400, small.Tensors.Single().Shape.Aggregate(4L, (a, b) => a * b));
    }
}
