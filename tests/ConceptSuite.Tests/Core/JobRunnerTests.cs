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

    JobRunner Runner(int concurrent = 1, int queued = 0) => new("test", _dir, concurrent, queued, _store, NullLogger.Instance, Team);

    static readonly int Team = ConceptSuite.Core.Hosting.OpenMpThreads.Resolve(0);

    /// <summary>A client's key for a request of the given content (by default the key's own name).</summary>
    static JobKey Key(string name, string content = "") => JobRunner.KeyFor(name, content.Length > 0 ? content : name);

    string JobDir(string name) => Path.Combine(_dir, "jobs", "test", name);

    /// <summary>
    /// A job's code runs with the runner's OpenMP team size at its start and after every await,
    /// wherever the continuation lands; a thread the job left pinned keeps that count only until the
    /// next pinned code runs there. Without the pinning a continuation took the team of whichever
    /// pool thread ran it (1 on a thread an in-process server with TorchThreads=1 had configured),
    /// and the bit-for-bit SAE resume check failed on a CI machine.
    /// </summary>
    [Fact]
    public async Task EveryPieceOfAJobRunsWithTheRunnersTeamSize()
    {
        var seen = new List<(int Team, int Thread, bool Pinned)>();
        Func<JobContext, Task<JobOutcome>> work = async ctx =>
        {
            for (int i = 0; i < 40; i++)
            {
                seen.Add((torch.get_num_threads(), Environment.CurrentManagedThreadId, SynchronizationContext.Current is not null));
                if (i % 2 == 0) await Task.Delay(1); else await Task.Yield();
            }
            return new JobOutcome(await ctx.Store.PutAsync("report", new Dictionary<string, torch.Tensor> { ["x"] = torch.ones(1) }, "{}", null, ctx.CancellationToken), new Dictionary<string, double>());
        };
        await Runner().RunAsync(Key("pinned"), work, new Events(), CancellationToken.None);
        Assert.Equal(40, seen.Count);
        Assert.All(seen, s => Assert.Equal(Team, s.Team));
        Assert.All(seen, s => Assert.True(s.Pinned));
        Console.WriteLine($"a pinned job's 40 pieces ran on {seen.Select(s => s.Thread).Distinct().Count()} pool threads, each with a team of {Team}");
    }

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
        var stopped = await Assert.ThrowsAnyAsync<Exception>(() => runner.RunAsync(Key("sum-10"), Counter(10, 4, cts, executed), new Events(), cts.Token));
        Assert.True(executed.SequenceEqual([0, 1, 2, 3]), $"executed [{string.Join(",", executed)}] then {stopped}");

        var events = new Events();
        await runner.RunAsync(Key("sum-10"), Counter(10, null, null, executed), events, CancellationToken.None);
        Assert.Equal(Enumerable.Range(0, 10), executed); // steps 4..9 only on the second run
        var result = events.All.Last().Result;
        Assert.True(result.Resumed);
        Assert.Equal(55, result.Metrics["sum"]);
        Assert.Contains(events.All, e => e.Progress is { Done: 10, Total: 10, Unit: "steps" });

        var again = new Events();
        await runner.RunAsync(Key("sum-10"), Counter(10, null, null, executed), again, CancellationToken.None);
        Assert.Equal(10, executed.Count); // nothing recomputed
        Assert.True(again.All.Single().Result.Cached);
        Assert.Equal(result.Artifact.Ref.Id, again.All.Single().Result.Artifact.Ref.Id);
    }

    [Fact]
    public async Task FailingJobStreamsAnErrorEventAndEndsWithItsStatus()
    {
        var runner = Runner();
        var events = new Events();
        var e = await Assert.ThrowsAsync<RpcException>(() => runner.RunAsync(Key("bad"), _ => throw new InvalidInputException("config.k", "must be > 0"), events, CancellationToken.None));
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
        var a = runner.RunAsync(Key("a"), Blocked, new Events(), CancellationToken.None);
        var b = runner.RunAsync(Key("bb"), Blocked, new Events(), CancellationToken.None);
        await Task.Delay(100);
        await Assert.ThrowsAsync<ResourceExhaustedException>(() => runner.RunAsync(Key("ccc"), Blocked, new Events(), CancellationToken.None));
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
        Assert.NotEqual(JobRunner.KeyFor("", "pca", "k=3").Name, JobRunner.KeyFor("", "pca", "k=4").Name);
        // A client's key keeps its name and carries the content's hash.
        var named = JobRunner.KeyFor("mine", "pca", "k=3");
        Assert.Equal("mine", named.Name);
        Assert.Equal(JobRunner.KeyFor("", "pca", "k=3").Content, named.Content);
    }

    [Fact]
    public async Task TheSameJobKeyWithOtherContentIsFailedPreconditionNamingJobKey()
    {
        var runner = Runner();
        var executed = new List<int>();
        await runner.RunAsync(Key("shared", "sum to 3"), Counter(3, null, null, executed), new Events(), CancellationToken.None);
        var events = new Events();
        var e = await Assert.ThrowsAsync<RpcException>(() => runner.RunAsync(Key("shared", "sum to 5"), Counter(5, null, null, executed), events, CancellationToken.None));
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.StartsWith("job.job_key: 'shared'", e.Status.Detail);
        Assert.Empty(events.All);
        Assert.Equal(3, executed.Count); // the other content never ran, and never got the stored result
        // The key and its own content still answer from the stored result.
        var again = new Events();
        await runner.RunAsync(Key("shared", "sum to 3"), Counter(3, null, null, executed), again, CancellationToken.None);
        Assert.True(again.All.Single().Result.Cached);
        Assert.Equal(6, again.All.Single().Result.Metrics["sum"]);
    }

    [Fact]
    public async Task AKeyRunningWithOtherContentIsFailedPreconditionAndWithTheSameIsAborted()
    {
        var runner = Runner(concurrent: 2, queued: 2);
        var release = new TaskCompletionSource();
        Func<JobContext, Task<JobOutcome>> blocked = async ctx =>
        {
            await release.Task;
            var info = await ctx.Store.PutAsync("x", new Dictionary<string, torch.Tensor> { ["k"] = torch.tensor(1) });
            return new JobOutcome(info, new Dictionary<string, double>());
        };
        var a = runner.RunAsync(Key("busy", "a"), blocked, new Events(), CancellationToken.None);
        await Task.Delay(100);
        var other = await Assert.ThrowsAsync<RpcException>(() => runner.RunAsync(Key("busy", "b"), blocked, new Events(), CancellationToken.None));
        Assert.Equal(StatusCode.FailedPrecondition, other.StatusCode);
        var same = await Assert.ThrowsAsync<RpcException>(() => runner.RunAsync(Key("busy", "a"), blocked, new Events(), CancellationToken.None));
        Assert.Equal(StatusCode.Aborted, same.StatusCode);
        release.SetResult();
        await a;
    }

    [Fact]
    public async Task AKeyWhoseJobLeftNoStateIsBoundToTheNextContent()
    {
        var runner = Runner();
        await Assert.ThrowsAsync<RpcException>(() => runner.RunAsync(Key("retry", "bad config"), _ => throw new InvalidInputException("config.k", "must be > 0"), new Events(), CancellationToken.None));
        var events = new Events();
        await runner.RunAsync(Key("retry", "good config"), Counter(2, null, null, []), events, CancellationToken.None);
        Assert.Equal(3, events.All.Last().Result.Metrics["sum"]);
        Assert.Equal(Key("retry", "good config").Content, File.ReadAllText(Path.Combine(JobDir("retry"), "content")));
    }

    [Theory]
    [InlineData("flip")]
    [InlineData("truncate")]
    [InlineData("state")]
    [InlineData("manifest")]
    public async Task ACorruptCheckpointIsDroppedWithAWarningAndTheJobStartsOver(string damage)
    {
        var runner = Runner();
        var executed = new List<int>();
        var cts = new CancellationTokenSource();
        await Assert.ThrowsAnyAsync<Exception>(() => runner.RunAsync(Key("torn"), Counter(10, 4, cts, executed), new Events(), cts.Token));
        Assert.Equal(4, executed.Count);
        var ckpt = Path.Combine(JobDir("torn"), "checkpoint");
        var tensors = Path.Combine(ckpt, "tensors.safetensors");
        switch (damage)
        {
            case "flip":
                var bytes = File.ReadAllBytes(tensors);
                bytes[^1] ^= 0x40; // one bit of the last value: still a well-formed file
                File.WriteAllBytes(tensors, bytes);
                break;
            case "truncate": using (var f = new FileStream(tensors, FileMode.Open)) f.SetLength(f.Length / 2); break;
            case "state": File.WriteAllText(Path.Combine(ckpt, "state.json"), "9"); break;
            case "manifest": File.Delete(Path.Combine(ckpt, "checksums.json")); break;
        }
        var events = new Events();
        executed.Clear();
        await runner.RunAsync(Key("torn"), Counter(10, null, null, executed), events, CancellationToken.None);
        Assert.Equal(Enumerable.Range(0, 10), executed); // every step again, from the start
        var result = events.All.Last().Result;
        Assert.False(result.Resumed);
        Assert.Equal(55, result.Metrics["sum"]);
        Assert.Contains(events.All, e => e.Message is { Level: JobMessage.Types.Level.Warning } m && m.Text.StartsWith("checkpoint dropped", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ACheckpointLeftOnlyUnderItsOldNameByACrashIsResumed()
    {
        var runner = Runner();
        var executed = new List<int>();
        var cts = new CancellationTokenSource();
        await Assert.ThrowsAnyAsync<Exception>(() => runner.RunAsync(Key("between"), Counter(10, 4, cts, executed), new Events(), cts.Token));
        // A crash between SaveCheckpoint's two renames: the last checkpoint moved aside, the new one not yet in place.
        Directory.Move(Path.Combine(JobDir("between"), "checkpoint"), Path.Combine(JobDir("between"), "checkpoint.old-" + Guid.NewGuid().ToString("N")));
        var events = new Events();
        await runner.RunAsync(Key("between"), Counter(10, null, null, executed), events, CancellationToken.None);
        Assert.Equal(Enumerable.Range(0, 10), executed); // steps 4..9 only on the second run
        Assert.True(events.All.Last().Result.Resumed);
        Assert.Empty(Directory.EnumerateDirectories(JobDir("between"), "checkpoint*"));
    }

    /// <summary>An output that fails from its third write on, as a stream whose client went away.</summary>
    sealed class BrokenEvents : IServerStreamWriter<JobEvent>
    {
        int _writes;
        public WriteOptions? WriteOptions { get; set; }
        public Task WriteAsync(JobEvent message) =>
            ++_writes >= 3 ? throw new InvalidOperationException("Can't write the message because the request is complete.") : Task.CompletedTask;
    }

    [Fact]
    public async Task ACallWhoseEventsCannotBeWrittenEndsOnlyAfterItsJobStoppedAndSavesNothingAfter()
    {
        var runner = Runner();
        int running = 0, saves = 0, savesAtReturn = -1;
        Func<JobContext, Task<JobOutcome>> slow = async ctx =>
        {
            Interlocked.Increment(ref running);
            try
            {
                for (int i = 0; i < 200; i++)
                {
                    ctx.CancellationToken.ThrowIfCancellationRequested();
                    ctx.Progress(i, 200, "steps");
                    await Task.Delay(10);
                    using var t = torch.tensor(i);
                    ctx.SaveCheckpoint(new Dictionary<string, torch.Tensor> { ["i"] = t }, i.ToString());
                    Interlocked.Increment(ref saves);
                }
                throw new InvalidOperationException("the job was not stopped");
            }
            finally { Interlocked.Decrement(ref running); }
        };
        var e = await Assert.ThrowsAsync<RpcException>(() => runner.RunAsync(Key("gone"), slow, new BrokenEvents(), CancellationToken.None));
        savesAtReturn = Volatile.Read(ref saves);
        Assert.Equal(StatusCode.Cancelled, e.StatusCode);
        Assert.Equal(0, Volatile.Read(ref running)); // the job's code had ended when the call did
        Assert.Equal(0, runner.Admitted);
        await Task.Delay(300);
        Assert.Equal(savesAtReturn, Volatile.Read(ref saves));
        Assert.True(savesAtReturn < 10, $"{savesAtReturn} checkpoints saved after the output broke");
    }
}
