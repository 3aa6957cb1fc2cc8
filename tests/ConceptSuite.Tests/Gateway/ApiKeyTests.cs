using ConceptSuite.Contracts;
using Grpc.Core;
using Grpc.Health.V1;
using static ConceptSuite.Tests.Gateway.GatewayHarness;
using GatewayClient = ConceptSuite.Contracts.GatewayService.GatewayServiceClient;

namespace ConceptSuite.Tests.Gateway;

public sealed class ApiKeyTests
{
    [Fact]
    public async Task UnauthenticatedCallsAreRefusedWhenKeysAreConfiguredAndHealthStaysOpen()
    {
        await using var server = await StartAsync("all", ("ConceptSuite:Security:ApiKeys:0", "first-key"), ("ConceptSuite:Security:ApiKeys:1", "second-key"));
        using var none = Channel(server, null);
        using var wrong = Channel(server, "first-kez");
        using var right = Channel(server, "second-key");

        var e = await Assert.ThrowsAsync<RpcException>(async () => await new GatewayClient(none).ListWorkflowsAsync(new ListWorkflowsRequest()));
        Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
        Assert.Contains("x-api-key", e.Status.Detail);
        e = await Assert.ThrowsAsync<RpcException>(async () => await new GatewayClient(wrong).ListWorkflowsAsync(new ListWorkflowsRequest()));
        Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
        // Every service of the process is behind the key, not only the gateway's.
        e = await Assert.ThrowsAsync<RpcException>(async () => await new ArtifactService.ArtifactServiceClient(none).ListArtifactsAsync(new ListArtifactsRequest()));
        Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);

        Assert.NotNull(await new GatewayClient(right).ListWorkflowsAsync(new ListWorkflowsRequest()));
        var health = await new Health.HealthClient(none).CheckAsync(new HealthCheckRequest { Service = "gateway" });
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);

        // The gateway's own stage calls carry a key: a workflow runs end to end.
        var input = await PutMatrixAsync(right, 10, 10);
        var spec = new WorkflowSpec { Name = "keyed" };
        spec.Steps.Add(Step("echo", "transport.echo", "", ("artifact", input.Ref.Id)));
        var end = (await RunAsync(right, new RunWorkflowRequest { Spec = spec })).Last().Finished;
        Assert.Equal(WorkflowState.Succeeded, end.State);
    }
}
