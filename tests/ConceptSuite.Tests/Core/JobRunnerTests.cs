using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Jobs;
using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;

namespace ConceptSuite.Tests.Core;

public sealed class JobRunnerTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "cs-jobs-" + Guid.NewGuid().ToString("N"));
    readonly ArtifactStore _store;

    public JobRunnerTests() => _store = new ArtifactStore(_dir);
    public void Dispose() => Directory.Delete(_dir, true);

    sealed class Events : IServerStreamWriter<JobEvent>
    {
        public List<JobEvent> All { get; } = new();
        public WriteOptions? WriteOptions { get; set; }
        public Task WriteAsync(JobEvent message) { lock (All) All.Add(message); return Task.CompletedTask; }
    }

    JobRunner Runner(int concurrent = 1, int queued = 0) => new("test", _dir, concurrent, queued, _store, NullLogger.Instance);

    // Sums 1..steps into a tensor, one step at a time, checkpointing every step; stops (cancels)
    // after `stopAfter` steps of this run when given.
    Func<JobContext, Task<JobOutcome>> Counter(int steps, int? stopAfter, CancellationTokenSource? cts, List<int> executed) => async ctx =>
    {
        int start = 0;
        var acc = torch.zeros(1, dtype: torch.float64);
        if (ctx.LoadCheckpoint() is { } ck) { acc = ck.Tensors["acc"]; start = int.Parse(ck.StateJson); }
        for (int i = start; i < steps; i++)
        {
            ctx.CancellationToken.ThrowIfCancellationRequested();
            acc = acc + (i + 1);
            executed.Add(i);
            ctx.Progress(i + 1, steps, "steps");
            ctx.SaveCheckpoint(new Dictionary<string, torch.Tensor> { ["acc"] = acc }, (i + 1).ToString());
            if (stopAfter is { } s && executed.Count == s) cts!.Cancel();
            await Task.Yield();
        }
        var info = await ctx.Store.PutAsync("sum", new Dictionary<string, torch.Tensor> { ["acc"] = acc });
        return new JobOutcome(info, new Dictionary<string, double> { ["sum"] = acc.item<double>() });
    };

    [Fact]
    public async Task InterruptedJobResumesFromItsCheckpointAndFinishedJobIsAnsweredFromTheStore()
    {
        var runner = Runner();
        var executed = new List<int>();
        var cts = new CancellationTokenSource();
        var stopped = await Assert.ThrowsAnyAsync<Exception>(() => runner.RunAsync("sum-10", Counter(10, 4, cts, executed), new Events(), cts.Token));
        Assert.True(executed.SequenceEqual([0, 1, 2, 3]), $"executed [{string.Join(",", executed)}] then {stopped}");

        var events = new Events();
        await runner.RunAsync("sum-10", Counter(10, null, null, executed), events, CancellationToken.None);
        Assert.Equal(Enumerable.Range(0, 10), executed); // steps 4..9 only on the second run
        var result = events.All.Last().Result;
        Assert.True(result.Resumed);
        Assert.Equal(55, result.Metrics["sum"]);
        Assert.Contains(events.All, e => e.Progress is { Done: 10, Total: 10, Unit: "steps" });

        var again = new Events();
        await runner.RunAsync("sum-10", Counter(10, null, null, executed), again, CancellationToken.None);
        Assert.Equal(10, executed.Count); // nothing recomputed
        Assert.True(again.All.Single().Result.Cached);
        Assert.Equal(result.Artifact.Ref.Id, again.All.Single().Result.Artifact.Ref.Id);
    }

    [Fact]
    public async Task FailingJobStreamsAnErrorEventAndEndsWithItsStatus()
    {
        var runner = Runner();
        var events = new Events();
        var e = await Assert.ThrowsAsync<RpcException>(() => runner.RunAsync("bad", _ => throw new InvalidInputException("config.k", "must be > 0"), events, CancellationToken.None));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        var error = events.All.Single().Error;
        Assert.Equal((int)StatusCode.InvalidArgument, error.Code);
        Assert.Equal("config.k", error.Field);
    }

    [Fact]
    public async Task JobsBeyondTheQueueAreResourceExhausted()
    {
        var runner = Runner(concurrent: 1, queued: 1);
        var release = new TaskCompletionSource();
        Func<JobContext, Task<JobOutcome>> Blocked = async ctx =>
        {
            await release.Task;
            var info = await ctx.Store.PutAsync("x", new Dictionary<string, torch.Tensor> { ["k"] = torch.tensor(ctx.Key.Length) });
            return new JobOutcome(info, new Dictionary<string, double>());
        };
        var a = runner.RunAsync("a", Blocked, new Events(), CancellationToken.None);
        var b = runner.RunAsync("bb", Blocked, new Events(), CancellationToken.None);
        await Task.Delay(100);
        await Assert.ThrowsAsync<ResourceExhaustedException>(() => runner.RunAsync("ccc", Blocked, new Events(), CancellationToken.None));
        release.SetResult();
        await Task.WhenAll(a, b);
    }

    [Theory]
    [InlineData("../escape")]
    [InlineData(".hidden")]
    [InlineData("has space")]
    public void JobKeysAreValidated(string key)
    {
        var e = Assert.Throws<InvalidInputException>(() => JobRunner.KeyFor(key));
        Assert.Equal("job.job_key", e.Field);
    }

    [Fact]
    public void EmptyKeyIsDerivedFromTheContent()
    {
        Assert.Equal(JobRunner.KeyFor("", "pca", "k=3"), JobRunner.KeyFor("", "pca", "k=3"));
        Assert.NotEqual(JobRunner.KeyFor("", "pca", "k=3"), JobRunner.KeyFor("", "pca", "k=4"));
    }
}
