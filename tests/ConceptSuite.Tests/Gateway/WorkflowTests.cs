using ConceptSuite.Client;
using System.Diagnostics;
using ConceptSuite.Contracts;
using Grpc.Core;
using static ConceptSuite.Tests.Gateway.GatewayHarness;
using GatewayClient = ConceptSuite.Contracts.GatewayService.GatewayServiceClient;

namespace ConceptSuite.Tests.Gateway;

public sealed class WorkflowTests
{
    static RunWorkflowRequest EchoTwice(string artifact, string name = "echo-twice")
    {
        var spec = new WorkflowSpec { Name = name };
        spec.Defaults["input"] = artifact;
        spec.Steps.Add(Step("first", "transport.echo", "gateway", ("artifact", "$params.input")));
        spec.Steps.Add(Step("second", "transport.echo", "", ("artifact", "$steps.first.artifact")));
        return new RunWorkflowRequest { Spec = spec };
    }

    [Fact]
    public async Task StepListStreamsAnArtifactThroughAStageAndKeepsItsContentId()
    {
        await using var server = await StartAsync();
        var input = await PutMatrixAsync(server.Channel, 3000, 256); // 3 MB: several blocks per stream
        var events = await RunAsync(server.Channel, EchoTwice(input.Ref.Id));

        Assert.Equal(WorkflowEvent.EventOneofCase.Snapshot, events[0].EventCase);
        var finished = Assert.Single(events, e => e.EventCase == WorkflowEvent.EventOneofCase.Finished).Finished;
        Assert.Equal(WorkflowState.Succeeded, finished.State);
        // The echo keeps the content id, so the second step has the first one's key: it is not run again.
        Assert.Equal(["first"], events.Where(e => e.StepStarted is not null).Select(e => e.StepStarted.Step));
        Assert.Contains(events, e => e.StepProgress is { Progress.Unit: "rows" });
        foreach (var s in finished.Steps)
        {
            Assert.Equal(WorkflowState.Succeeded, s.State);
            Assert.Equal(input.Ref.Id, s.Outputs["artifact"].Id); // every byte survived both round trips
            Assert.Equal(1, s.Metrics["identical"]);
            Assert.Equal(3000 * 256 * 4, s.Metrics["bytes"]);
        }
        Assert.False(finished.Steps[0].Reused);
        Assert.True(finished.Steps[1].Reused);
        Assert.Equal(finished.Steps[0].StepKey, finished.Steps[1].StepKey);
        Assert.Equal("gateway", finished.Steps[1].Stage);

        var client = new GatewayClient(server.Channel);
        var got = await client.GetWorkflowAsync(new GetWorkflowRequest { Id = finished.Id });
        Assert.Equal(WorkflowState.Succeeded, got.State);
        var list = await client.ListWorkflowsAsync(new ListWorkflowsRequest { State = WorkflowState.Succeeded });
        Assert.Contains(list.Workflows, w => w.Id == finished.Id);

        // The same request names the same workflow: replayed from its state, nothing recomputed.
        var again = await RunAsync(server.Channel, EchoTwice(input.Ref.Id));
        Assert.Equal(2, again.Count);
        Assert.Equal(finished.Id, again[1].Finished.Id);
        Assert.DoesNotContain(again, e => e.StepStarted is not null);
    }

    [Fact]
    public async Task AnotherWorkflowWithTheSameStepReusesItsOutputs()
    {
        await using var server = await StartAsync();
        var input = await PutMatrixAsync(server.Channel, 100, 8);
        var first = (await RunAsync(server.Channel, EchoTwice(input.Ref.Id, "one"))).Last().Finished;
        var second = (await RunAsync(server.Channel, EchoTwice(input.Ref.Id, "two"))).Last().Finished;
        Assert.NotEqual(first.Id, second.Id);
        Assert.Equal(WorkflowState.Succeeded, second.State);
        Assert.All(second.Steps, s => Assert.True(s.Reused));
        Assert.Equal(first.Steps.Select(s => s.StepKey), second.Steps.Select(s => s.StepKey));
    }

    [Fact]
    public async Task BadSpecsAreRefusedNamingTheField()
    {
        await using var server = await StartAsync();
        var input = await PutMatrixAsync(server.Channel, 4, 4);
        async Task<RpcException> Refused(RunWorkflowRequest r) => await Assert.ThrowsAsync<RpcException>(() => RunAsync(server.Channel, r));

        var unknown = EchoTwice(input.Ref.Id);
        unknown.Spec.Steps[0].Method = "no.such";
        var e = await Refused(unknown);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("spec.steps[0].method", e.Status.Detail);

        var forward = EchoTwice(input.Ref.Id);
        forward.Spec.Steps[0].Inputs["artifact"] = "$steps.second.artifact";
        e = await Refused(forward);
        Assert.Contains("no earlier step 'second'", e.Status.Detail);

        var missing = EchoTwice(input.Ref.Id);
        missing.Spec.Steps[1].Inputs.Clear();
        e = await Refused(missing);
        Assert.Contains("spec.steps[1].inputs.artifact", e.Status.Detail);

        var badParam = EchoTwice(input.Ref.Id);
        badParam.Parameters["nope"] = "1";
        e = await Refused(badParam);
        Assert.Contains("parameters.nope", e.Status.Detail);

        e = await Refused(new RunWorkflowRequest { Builtin = "no-such-workflow" });
        Assert.Contains("builtin", e.Status.Detail);
    }

    [Fact]
    public async Task AStageThatIsDownFailsTheWorkflowClearlyAndQuickly()
    {
        // A port nothing listens on: bind, read the port, release it.
        int port = Loopback.FreePort();
        await using var server = await StartAsync("all", ("ConceptSuite:Gateway:Endpoints:embedding", $"http://127.0.0.1:{port}"),
            ("ConceptSuite:Gateway:ProbeTimeoutSeconds", "2"), ("ConceptSuite:Gateway:ReadinessWaitSeconds", "1"));
        var input = await PutMatrixAsync(server.Channel, 4, 4);
        var run = EchoTwice(input.Ref.Id, "down");
        run.Spec.Steps[1].Stage = "embedding";
        var sw = Stopwatch.StartNew();
        var finished = (await RunAsync(server.Channel, run, TimeSpan.FromSeconds(60))).Last().Finished;
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), $"took {sw.Elapsed}");
        Assert.Equal(WorkflowState.Failed, finished.State);
        Assert.Equal(WorkflowState.Succeeded, finished.Steps[0].State);
        Assert.Equal(WorkflowState.Failed, finished.Steps[1].State);
        Assert.Contains($"stage 'embedding' at http://127.0.0.1:{port}: unreachable", finished.Steps[1].Error);
        Assert.Contains("step 'second' (embedding/transport.echo) failed", finished.Error);

        // A stage this process does not run is named as such.
        var absent = EchoTwice(input.Ref.Id, "absent");
        absent.Spec.Steps[1].Stage = "nosuchstage";
        var f2 = (await RunAsync(server.Channel, absent)).Last().Finished;
        Assert.Equal(WorkflowState.Failed, f2.State);
        Assert.Contains("does not run this stage", f2.Steps[1].Error);
    }

    [Fact]
    public async Task CancellingAPendingWorkflowAndResumingIt()
    {
        await using var server = await StartAsync();
        var input = await PutMatrixAsync(server.Channel, 16, 16);
        var client = new GatewayClient(server.Channel);
        // Start detached and cancel right away: whichever step it reached ends cancelled or finished.
        var r = EchoTwice(input.Ref.Id, "cancel-me");
        r.Detach = true;
        using (var call = client.RunWorkflow(r))
        {
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
            var id = call.ResponseStream.Current.Snapshot.Id;
            var after = await client.CancelWorkflowAsync(new CancelWorkflowRequest { Id = id });
            Assert.Equal(id, after.Id);
            while (await call.ResponseStream.MoveNext(CancellationToken.None)) { }
            var state = (await client.GetWorkflowAsync(new GetWorkflowRequest { Id = id })).State;
            Assert.True(state is WorkflowState.Cancelled or WorkflowState.Succeeded, state.ToString());
            // Resume completes it from where it stopped.
            using var resume = client.ResumeWorkflow(new ResumeWorkflowRequest { Id = id });
            WorkflowInfo? end = null;
            while (await resume.ResponseStream.MoveNext(CancellationToken.None))
                if (resume.ResponseStream.Current.Finished is { } f) end = f;
            Assert.Equal(WorkflowState.Succeeded, end!.State);
        }
        var e = await Assert.ThrowsAsync<RpcException>(async () => await client.GetWorkflowAsync(new GetWorkflowRequest { Id = "0123456789abcdef" }));
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
        e = await Assert.ThrowsAsync<RpcException>(async () => await client.GetWorkflowAsync(new GetWorkflowRequest { Id = "../x" }));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
    }

    [Fact]
    public async Task ArtifactsAreReachableThroughTheGateway()
    {
        await using var server = await StartAsync();
        var input = await PutMatrixAsync(server.Channel, 700, 300);
        var client = new GatewayClient(server.Channel);
        var list = await client.ListArtifactsAsync(new ListArtifactsRequest { Kind = "activations" });
        Assert.Contains(list.Artifacts, a => a.Ref.Id == input.Ref.Id);
        using var call = client.GetArtifact(new GetArtifactRequest { Id = input.Ref.Id });
        long bytes = 0; int infos = 0;
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            if (call.ResponseStream.Current.Info is not null) infos++;
            else bytes += call.ResponseStream.Current.Block.Tensor.Data.Length;
        }
        Assert.Equal(1, infos);
        Assert.Equal(700L * 300 * 4, bytes);
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var c = client.GetArtifact(new GetArtifactRequest { Id = new string('a', 64) });
            await c.ResponseStream.MoveNext(CancellationToken.None);
        });
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
    }
}
