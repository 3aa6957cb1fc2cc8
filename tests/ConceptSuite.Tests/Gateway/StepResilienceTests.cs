using System.Diagnostics;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Hosting;
using ConceptSuite.Gateway;
using ConceptSuite.Gateway.Stages;
using ConceptSuite.Server;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Polly.CircuitBreaker;
using static ConceptSuite.Tests.Gateway.GatewayHarness;
using MsOptions = Microsoft.Extensions.Options.Options;

namespace ConceptSuite.Tests.Gateway;

/// <summary>The gateway's step pipeline: what it retries, what its breaker counts, how it waits for a stage.</summary>
public sealed class StepResilienceTests
{
    static RpcException Rpc(StatusCode code, string detail = "x") => new(new Status(code, detail));

    [Theory]
    [InlineData(StatusCode.Unavailable, "connection refused", StepFailure.Transient)]
    [InlineData(StatusCode.Aborted, "conflict", StepFailure.Transient)]
    [InlineData(StatusCode.ResourceExhausted, "discovery: 64 requests already in flight; retry later", StepFailure.Transient)]
    [InlineData(StatusCode.ResourceExhausted, "discovery: 10 jobs already running or queued; retry later", StepFailure.Transient)]
    [InlineData(StatusCode.ResourceExhausted, "Received message exceeds the maximum configured message size.", StepFailure.Permanent)]
    [InlineData(StatusCode.ResourceExhausted, "Sending message exceeds the maximum configured message size.", StepFailure.Permanent)]
    [InlineData(StatusCode.ResourceExhausted, "request too large: rows x cols", StepFailure.Permanent)]
    [InlineData(StatusCode.Internal, "Expected false to be true", StepFailure.Internal)]
    [InlineData(StatusCode.Unknown, "Exception was thrown by handler.", StepFailure.Internal)]
    [InlineData(StatusCode.InvalidArgument, "k: must be > 0", StepFailure.Permanent)]
    [InlineData(StatusCode.NotFound, "artifact", StepFailure.Permanent)]
    [InlineData(StatusCode.FailedPrecondition, "job_key", StepFailure.Permanent)]
    [InlineData(StatusCode.Unauthenticated, "x-api-key", StepFailure.Permanent)]
    [InlineData(StatusCode.PermissionDenied, "x-api-key", StepFailure.Permanent)]
    [InlineData(StatusCode.DeadlineExceeded, "deadline", StepFailure.Permanent)]
    [InlineData(StatusCode.Cancelled, "cancelled", StepFailure.Permanent)]
    [InlineData(StatusCode.Unimplemented, "no such method", StepFailure.Permanent)]
    public void StatusCodesAreClassifiedByWhetherAnotherAttemptCanAnswerDifferently(StatusCode code, string detail, StepFailure expected) =>
        Assert.Equal(expected, StepFailures.Classify(Rpc(code, detail)));

    [Fact]
    public void UnreachableStagesAreTransientAndAbsentStagesPermanent()
    {
        Assert.Equal(StepFailure.Transient, StepFailures.Classify(new StageUnavailableException("embedding", "http://h:1", "unreachable")));
        Assert.Equal(StepFailure.Permanent, StepFailures.Classify(new StageUnavailableException("embedding", "http://h:1", "does not run this stage", transient: false)));
        Assert.Equal(StepFailure.Permanent, StepFailures.Classify(new InvalidInputException("k", "must be > 0")));
        Assert.Equal(StepFailure.Permanent, StepFailures.Classify(new BrokenCircuitException()));
        Assert.Equal(StepFailure.Permanent, StepFailures.Classify(new Polly.Timeout.TimeoutRejectedException()));
    }

    [Theory]
    [InlineData(0, 0.25, 2.0, 0)]
    [InlineData(0.25, 0.25, 2.0, 1)]
    [InlineData(1, 0.25, 2.0, 3)]     // 0.25 + 0.5 + 1
    [InlineData(20, 0.25, 2.0, 13)]   // 0.25 + 0.5 + 1 + 2·9 = 19.75 < 20 ≤ 19.75 + 2
    public void TheReadinessWaitProbesUntilItsNominalDelaysCoverTheWait(double wait, double first, double max, int retries) =>
        Assert.Equal(retries, StageClients.ReadinessRetries(wait, first, max));

    static StageClients Clients(int retries = 3, int breakerCalls = 100) => new(
        MsOptions.Create(new GatewayOptions { StepRetries = retries, RetryDelaySeconds = 0.01, BreakerMinimumCalls = breakerCalls, BreakerFailureRatio = 0.5, BreakerBreakSeconds = 60 }),
        MsOptions.Create(new ListenOptions()), MsOptions.Create(new ConceptSuite.Core.Security.SecurityOptions()), new ConceptSuite.Core.Security.LocalPeerKey());

    /// <summary>Runs a step whose every attempt throws <paramref name="failure"/>; returns the attempts made and what surfaced.</summary>
    static async Task<(int Attempts, Exception Error)> Failing(StageClients clients, Exception failure, bool contentKeyed = true)
    {
        int attempts = 0;
        var e = await Assert.ThrowsAnyAsync<Exception>(() => clients.ExecuteStepAsync<int>("discovery", probe: false, contentKeyed, _ =>
        {
            attempts++;
            throw failure;
        }, CancellationToken.None));
        return (attempts, e);
    }

    [Fact]
    public async Task TransientFailuresAreRetriedInternalOnceAndPermanentNever()
    {
        using var clients = Clients(retries: 3);
        Assert.Equal(4, (await Failing(clients, Rpc(StatusCode.Unavailable))).Attempts);
        Assert.Equal(4, (await Failing(clients, Rpc(StatusCode.ResourceExhausted, "discovery: 2 jobs already running or queued; retry later"))).Attempts);
        Assert.Equal(2, (await Failing(clients, Rpc(StatusCode.Internal, "Scalar.h"))).Attempts);
        Assert.Equal(1, (await Failing(clients, Rpc(StatusCode.Internal, "Scalar.h"), contentKeyed: false)).Attempts);
        var (n, e) = await Failing(clients, Rpc(StatusCode.InvalidArgument, "options.k: must be > 0"));
        Assert.Equal(1, n);
        Assert.Equal(StatusCode.InvalidArgument, Assert.IsType<RpcException>(e).StatusCode);
        Assert.Equal(1, (await Failing(clients, Rpc(StatusCode.ResourceExhausted, "Received message exceeds the maximum configured message size."))).Attempts);
        Assert.Equal(1, (await Failing(clients, Rpc(StatusCode.FailedPrecondition))).Attempts);
        Assert.Equal(1, (await Failing(clients, Rpc(StatusCode.Unauthenticated))).Attempts);
        Assert.Equal(1, (await Failing(clients, Rpc(StatusCode.NotFound))).Attempts);

        // An INTERNAL then a transient failure then INTERNAL again: the second INTERNAL is not retried.
        var sequence = new Queue<Exception>([Rpc(StatusCode.Internal), Rpc(StatusCode.Unavailable), Rpc(StatusCode.Internal), Rpc(StatusCode.Unavailable)]);
        int attempts = 0;
        var last = await Assert.ThrowsAsync<RpcException>(() => clients.ExecuteStepAsync<int>("bottleneck", false, true, _ => { attempts++; throw sequence.Dequeue(); }, CancellationToken.None));
        Assert.Equal(3, attempts);
        Assert.Equal(StatusCode.Internal, last.StatusCode);

        // A step that succeeds after one transient failure returns its value.
        int tries = 0;
        Assert.Equal(7, await clients.ExecuteStepAsync("explain", false, true, _ => ++tries == 1 ? throw Rpc(StatusCode.Unavailable) : Task.FromResult(7), CancellationToken.None));
        Assert.Equal(2, tries);
    }

    [Fact]
    public async Task TheBreakerCountsOnlyTransientFailures()
    {
        using var clients = Clients(retries: 0, breakerCalls: 4);
        for (int i = 0; i < 10; i++) await Failing(clients, Rpc(StatusCode.InvalidArgument));
        for (int i = 0; i < 10; i++) await Failing(clients, Rpc(StatusCode.Internal));
        // Twenty bad requests and internal faults later the stage is still called.
        Assert.Equal(1, await clients.ExecuteStepAsync("discovery", false, true, _ => Task.FromResult(1), CancellationToken.None));

        for (int i = 0; i < 30; i++) await Failing(clients, Rpc(StatusCode.Unavailable));
        var (attempts, e) = await Failing(clients, Rpc(StatusCode.Unavailable));
        Assert.Equal(0, attempts);
        Assert.IsType<BrokenCircuitException>(e);
    }

    [Fact]
    public async Task AStageThatIsDownForAFewSecondsDelaysTheWorkflowInsteadOfFailingIt()
    {
        int port = Loopback.FreePort();
        await using var gateway = await StartAsync("all", ("ConceptSuite:Gateway:Endpoints:embedding", $"http://127.0.0.1:{port}"),
            ("ConceptSuite:Gateway:ProbeTimeoutSeconds", "1"), ("ConceptSuite:Gateway:ReadinessWaitSeconds", "30"));
        var input = await PutMatrixAsync(gateway.Channel, 64, 32);
        var spec = new WorkflowSpec { Name = "stage-returns" };
        spec.Steps.Add(Step("echo", "transport.echo", "embedding", ("artifact", input.Ref.Id)));

        var dataDir = Path.Combine(Path.GetTempPath(), "cs-test-" + Guid.NewGuid().ToString("N"));
        WebApplication? stage = null;
        var sw = Stopwatch.StartNew();
        var comesBack = Task.Run(async () =>
        {
            await Task.Delay(TimeSpan.FromSeconds(2.5));
            stage = SuiteApp.Create(["--stages", "embedding", "--data-dir", dataDir, "--listen", $"http://127.0.0.1:{port}", "--metrics", ""]);
            await stage.StartAsync();
        });
        try
        {
            var events = await RunAsync(gateway.Channel, new RunWorkflowRequest { Spec = spec }, TimeSpan.FromSeconds(90));
            await comesBack;
            var finished = events.Last().Finished;
            Assert.True(finished.State == WorkflowState.Succeeded, finished.Error);
            Assert.True(sw.Elapsed >= TimeSpan.FromSeconds(2.5), $"finished after {sw.Elapsed}, before the stage came back");
            Assert.Equal(1, finished.Steps[0].Attempts);
            Assert.Equal(input.Ref.Id, finished.Steps[0].Outputs["artifact"].Id);
        }
        finally
        {
            await comesBack;
            if (stage is not null) { await stage.StopAsync(); await stage.DisposeAsync(); }
            try { Directory.Delete(dataDir, true); } catch (IOException) { }
        }
    }
}
