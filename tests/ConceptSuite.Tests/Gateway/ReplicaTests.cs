using ConceptSuite.Contracts;
using ConceptSuite.Core.Hosting;
using ConceptSuite.Gateway.Workflows;
using ConceptSuite.Tests.Infrastructure;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using GatewayClient = ConceptSuite.Contracts.GatewayService.GatewayServiceClient;

namespace ConceptSuite.Tests.Gateway;

/// <summary>
/// Gateway replicas on one workflow store: leases decide which replica runs a workflow, a claim
/// succeeds for exactly one claimant, a replica that lost its lease writes nothing, and a replica
/// finishes, once, the workflow of one killed mid-run after that one's lease expired.
/// </summary>
public sealed class ReplicaTests
{
    static WorkflowInfo NewWorkflow(string id) => new()
    {
        Id = id, Name = "lease", State = WorkflowState.Pending, Created = Timestamp.FromDateTime(DateTime.UtcNow),
        Steps = { new StepInfo { Name = "only", Method = "transport.echo", State = WorkflowState.Pending } },
    };

    /// <summary>Two stores on one database, as two replicas have: SQLite (one file) or PostgreSQL (a private cluster).</summary>
    static async Task<(IWorkflowStore A, IWorkflowStore B, IDisposable Cleanup)> TwoStoresAsync(string kind)
    {
        if (kind == "sqlite")
        {
            var dir = Path.Combine(Path.GetTempPath(), "cs-lease-" + Guid.NewGuid().ToString("N"));
            var options = new SuiteOptions { DataDir = dir };
            var a = new SqliteWorkflowStore(options);
            var b = new SqliteWorkflowStore(options);
            return (a, b, new Cleanup(() => { a.Dispose(); b.Dispose(); Directory.Delete(dir, true); }));
        }
        var cluster = await PostgresCluster.StartAsync();
        var cs = await cluster.CreateDatabaseAsync("leases");
        var pa = new PostgresWorkflowStore(cs);
        var pb = new PostgresWorkflowStore(cs);
        return (pa, pb, new Cleanup(() => { pa.Dispose(); pb.Dispose(); cluster.Dispose(); }));
    }

    sealed class Cleanup(Action action) : IDisposable
    {
        public void Dispose() => action();
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task OfTwoClaimantsExactlyOneWinsAndTheLoserWritesNothing(string kind)
    {
        var (a, b, cleanup) = await TwoStoresAsync(kind);
        using var _ = cleanup;
        var lease = TimeSpan.FromSeconds(30);

        // 40 workflows, each claimed by both replicas at the same instant: one winner each.
        var ids = Enumerable.Range(0, 40).Select(i => $"{i:x16}").ToList();
        foreach (var id in ids) Assert.True(a.Insert(NewWorkflow(id)));
        Assert.False(b.Insert(NewWorkflow(ids[0]))); // the id exists: nothing written
        var wins = new int[2];
        foreach (var id in ids)
        {
            using var go = new Barrier(2);
            var claims = await Task.WhenAll(
                Task.Run(() => { go.SignalAndWait(); return a.TryClaim(id, "replica-a", lease); }),
                Task.Run(() => { go.SignalAndWait(); return b.TryClaim(id, "replica-b", lease); }));
            Assert.True(claims[0] ^ claims[1], $"{id}: claims {claims[0]}, {claims[1]}");
            wins[claims[0] ? 0 : 1]++;
        }
        Console.WriteLine($"{kind}: replica a won {wins[0]}, replica b {wins[1]} of {ids.Count} simultaneous claims");

        // The loser of a claim can neither write the workflow nor log a step of it; the owner can.
        var first = ids[0];
        var (owner, other) = a.TryClaim(first, "replica-a", lease) ? (a, "replica-b") : (b, "replica-a");
        var ownerName = owner == a ? "replica-a" : "replica-b";
        var info = a.Find(first)!;
        info.State = WorkflowState.Running;
        Assert.False(b.SaveOwned(info, other, lease, new StepLogEntry(first, "only", other, "started", default)));
        Assert.Equal(WorkflowState.Pending, a.Find(first)!.State);
        Assert.Empty(a.StepLog(first));
        Assert.False(a.Renew(first, other, lease).Held);
        Assert.True(owner.SaveOwned(info, ownerName, lease, new StepLogEntry(first, "only", ownerName, "started", default)));
        Assert.Equal(WorkflowState.Running, b.Find(first)!.State);
        Assert.Equal([ownerName], b.StepLog(first).Select(e => e.Owner));

        // A live lease is nobody else's; an expired one is anybody's, and the old owner is fenced off.
        var second = ids[1];
        a.Release(second, "replica-a"); b.Release(second, "replica-b");
        Assert.True(a.TryClaim(second, "replica-a", TimeSpan.FromMilliseconds(400)));
        Assert.False(b.TryClaim(second, "replica-b", lease));
        Assert.DoesNotContain(second, b.Orphans());
        var running = a.Find(second)!;
        running.State = WorkflowState.Running;
        Assert.True(a.SaveOwned(running, "replica-a", TimeSpan.FromMilliseconds(400)));
        await Task.Delay(900);
        Assert.Contains(second, b.Orphans());
        Assert.True(b.TryClaim(second, "replica-b", lease));
        Assert.False(a.SaveOwned(running, "replica-a", lease));
        Assert.Equal(new LeaseState(false, false), a.Renew(second, "replica-a", lease));
        Assert.DoesNotContain(second, a.Orphans());

        // A cancel request reaches the owner at its next renewal; releasing clears it.
        a.RequestCancel(second);
        Assert.Equal(new LeaseState(true, true), b.Renew(second, "replica-b", lease));
        b.Release(second, "replica-b");
        Assert.True(a.TryClaim(second, "replica-a", lease));
        Assert.Equal(new LeaseState(true, false), a.Renew(second, "replica-a", lease));
    }

    [Fact]
    public async Task WorkflowListPagesAreStableAndComplete()
    {
        var (a, _, cleanup) = await TwoStoresAsync("sqlite");
        using var __ = cleanup;
        var t0 = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        // 25 workflows, several sharing a creation time (the id breaks the tie).
        for (int i = 0; i < 25; i++)
        {
            var w = NewWorkflow($"{i:x16}");
            w.Created = Timestamp.FromDateTime(t0.AddSeconds(i / 3));
            if (i % 2 == 0) w.State = WorkflowState.Succeeded;
            a.Insert(w);
        }
        var seen = new List<string>();
        WorkflowCursor? after = null;
        while (true)
        {
            var page = a.List(WorkflowState.Unspecified, 7, after);
            seen.AddRange(page.Select(w => w.Id));
            if (page.Count < 7) break;
            after = SqlWorkflowStore.CursorOf(page[^1]);
            a.Insert(NewWorkflow($"{100 + seen.Count:x16}")); // newer than every page: never shows up in later pages
        }
        Assert.Equal(Enumerable.Range(0, 25).Select(i => $"{i:x16}").OrderByDescending(id => Convert.ToInt32(id, 16) / 3).ThenByDescending(id => id, StringComparer.Ordinal), seen);
        Assert.Equal(13, a.List(WorkflowState.Succeeded, 100).Count);
    }

    static RunWorkflowRequest Workflow() => DurabilityTests.Workflow("replicated");

    /// <summary>
    /// Two real gateway processes on one PostgreSQL database and one data directory; the one
    /// running the workflow kills itself (SIGKILL, by its fault hook) the moment its third step has
    /// started and that is stored, so the kill lands at the same step on any machine. The other takes the workflow
    /// over only after the dead one's lease expired, never runs a step the dead one finished, and
    /// finishes every step exactly once; the step log shows no moment when both ran it.
    /// </summary>
    [Fact]
    public async Task ASecondGatewayFinishesTheWorkflowOfAKilledOneOnceAfterItsLeaseExpires()
    {
        const double leaseSeconds = 3;
        using var cluster = await PostgresCluster.StartAsync();
        var cs = await cluster.CreateDatabaseAsync("replicas");
        var dataDir = Path.Combine(Path.GetTempPath(), "cs-replicas-" + Guid.NewGuid().ToString("N"));
        var env = new Dictionary<string, string?>
        {
            ["ConceptSuite__Gateway__PostgresConnectionString"] = cs,
            ["ConceptSuite__Gateway__LeaseSeconds"] = leaseSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        try
        {
            var envA = new Dictionary<string, string?>(env) { [ConceptSuite.Core.Artifacts.FaultPoints.Variable] = "workflow.step:shapes" };
            using var a = ServerProcess.Launch(["--stages", "all"], envA, dataDir, metrics: false);
            await a.WaitServingAsync("gateway");
            using var b = ServerProcess.Launch(["--stages", "all"], env, dataDir, metrics: false);
            await b.WaitServingAsync("gateway");

            // 1. A runs the workflow and dies when "shapes" starts ("train" and "test" finished).
            string id = "";
            using (var call = new GatewayClient(a.Channel).RunWorkflow(Workflow()))
            {
                try
                {
                    while (await call.ResponseStream.MoveNext(CancellationToken.None))
                    {
                        var e = call.ResponseStream.Current;
                        id = e.WorkflowId;
                        Assert.Null(e.Finished);
                    }
                }
                catch (RpcException x) when (x.StatusCode is StatusCode.Unavailable or StatusCode.Internal or StatusCode.Cancelled) { }
            }
            Assert.True(a.WaitForExit(30), "gateway A did not kill itself at the start of step shapes:\n" + a.Output);
            Assert.Contains("killing the process at workflow.step:shapes", a.Output);

            // 2. B, asked about it while A's lease is live, follows it through the store and takes it
            //    over when the lease expires; the stream ends with the finished workflow.
            WorkflowInfo? end = null;
            using (var call = new GatewayClient(b.Channel).ResumeWorkflow(new ResumeWorkflowRequest { Id = id, Detach = true },
                       deadline: DateTime.UtcNow.AddMinutes(4)))
                while (await call.ResponseStream.MoveNext(CancellationToken.None))
                    if (call.ResponseStream.Current.Finished is { } f) end = f;
            Assert.True(end is { State: WorkflowState.Succeeded }, end?.Error + "\n" + b.Output);

            // 3. The step log: who moved which step when (the database's clock).
            using var store = new PostgresWorkflowStore(cs);
            var log = store.StepLog(id);
            Console.WriteLine(string.Join("\n", log.Select(l => $"{l.At:HH:mm:ss.fff} {l.Owner} {l.Step} {l.Event}")));
            var owners = log.Select(l => l.Owner).Distinct().ToList();
            Assert.Equal(2, owners.Count);
            string ownerA = owners[0], ownerB = owners[1];
            Assert.Contains($"/{a.Process.Id}/", ownerA);
            Assert.Contains($"/{b.Process.Id}/", ownerB);
            var byA = log.Where(l => l.Owner == ownerA).ToList();
            var byB = log.Where(l => l.Owner == ownerB).ToList();
            // Never both: every entry of A precedes every entry of B.
            Assert.Equal(log.Count, log.TakeWhile(l => l.Owner == ownerA).Count() + byB.Count);
            // B began only once A's lease had expired: A extended it at its last write, by the lease.
            var waited = byB[0].At - byA[^1].At;
            Console.WriteLine($"B's first step transition came {waited.TotalSeconds:0.00} s after A's last (lease {leaseSeconds} s)");
            Assert.True(waited >= TimeSpan.FromSeconds(leaseSeconds) - TimeSpan.FromMilliseconds(50), $"B started {waited} after A's last write");
            // Each step finished exactly once; a step A finished was never started again.
            foreach (var step in end!.Steps)
            {
                var finishes = log.Where(l => l.Step == step.Name && l.Event is "succeeded" or "reused").ToList();
                Assert.True(finishes.Count == 1, $"{step.Name}: finished {finishes.Count} times");
                if (finishes[0].Owner == ownerA) Assert.DoesNotContain(byB, l => l.Step == step.Name);
                else Assert.Single(byB, l => l.Step == step.Name && l.Event == "started");
            }
            // A finished the first two steps and died having started the third (its last events may
            // never have reached the caller's stream, so the step log is the record).
            Assert.Equal(["train:started", "train:succeeded", "test:started", "test:succeeded", "shapes:started"], byA.Select(l => $"{l.Step}:{l.Event}"));
            Assert.Contains(byA, l => l.Event == "succeeded");
            Assert.Contains(byB, l => l.Event == "succeeded");
            // Nobody holds the finished workflow, and nothing is left to take over.
            Assert.Empty(store.Orphans());
            Assert.True(store.TryClaim(id, "probe", TimeSpan.FromSeconds(1)));
        }
        finally
        {
            try { Directory.Delete(dataDir, true); } catch (IOException) { }
        }
    }
}
