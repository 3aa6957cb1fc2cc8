using System.Collections.Concurrent;
using System.Threading.Channels;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Hosting;
using ConceptSuite.Core.Methods;
using ConceptSuite.Gateway.Stages;
using ConceptSuite.Gateway.Steps;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace ConceptSuite.Gateway.Workflows;

/// <summary>
/// Runs workflows: one background run per workflow id (callers attach to it and receive its
/// events), steps in order, each step skipped when it already finished in this workflow or when
/// any earlier run produced the same step key (content-derived: same method, stage, inputs and
/// options) and its artifacts still exist. State is written to the <see cref="IWorkflowStore"/>
/// at every transition, so a crash loses at most the running step, and ResumeWorkflow (or the
/// next start) continues there.
/// </summary>
/// <remarks>
/// Replicas: a run holds the workflow's lease in the store (owner <see cref="Owner"/>), renewed
/// every third of ConceptSuite:Gateway:LeaseSeconds; every state write is conditional on still
/// owning it. A replica that cannot renew in time stops its run before the lease can expire, so
/// a workflow never runs on two replicas at once. A caller attached to a replica that does not
/// own the workflow follows the owner's progress through the store, and that replica takes the
/// workflow over once the owner's lease has expired.
/// </remarks>
public sealed class WorkflowEngine : IDisposable
{
    readonly IWorkflowStore store;
    readonly StageClients stages;
    readonly IServiceProvider services;
    readonly ILogger<WorkflowEngine> logger;
    readonly ConcurrentDictionary<string, Run> _active = new();
    readonly SemaphoreSlim _slots;
    readonly object _gate = new();
    readonly object _renewing = new();
    readonly Timer _renewal;
    volatile bool _disposed;

    public WorkflowEngine(IWorkflowStore store, StageClients stages, IServiceProvider services,
        IOptions<GatewayOptions> options, ILogger<WorkflowEngine> logger)
    {
        this.store = store; this.stages = stages; this.services = services; this.logger = logger;
        _slots = new(Math.Max(1, options.Value.MaxConcurrentWorkflows));
        Lease = TimeSpan.FromSeconds(options.Value.LeaseSeconds);
        Owner = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid().ToString("N")[..8]}";
        _renewal = new Timer(_ => RenewLeases(), null, RenewPeriod, RenewPeriod);
    }

    /// <summary>This replica's owner id in the store's leases: host name, process id and a random suffix.</summary>
    public string Owner { get; }

    /// <summary>How long a lease lasts after each renewal.</summary>
    public TimeSpan Lease { get; }

    TimeSpan RenewPeriod => Lease / 3;

    /// <summary>How often a caller following another replica's workflow reads its state.</summary>
    TimeSpan FollowPeriod => TimeSpan.FromSeconds(Math.Clamp(Lease.TotalSeconds / 5, 0.2, 2));

    sealed class Run(WorkflowInfo info)
    {
        public WorkflowInfo Info = info;
        public readonly CancellationTokenSource Cts = new();
        public readonly List<ChannelWriter<WorkflowEvent>> Subscribers = [];
        public Task? Task;
        /// <summary>The lease is gone (taken over, or not renewed in time): the run writes nothing more.</summary>
        public volatile bool Lost;
        /// <summary>When the last successful renewal was asked for (the store's expiry is at least this plus the lease).</summary>
        public long RenewedAt = Environment.TickCount64;

        public void Cancel()
        {
            try { Cts.Cancel(); } catch (ObjectDisposedException) { }
        }
    }

    /// <summary>Validates a request and records its workflow (new: pending; known: as it was).</summary>
    public WorkflowInfo Prepare(WorkflowSpec spec, IReadOnlyDictionary<string, string> given)
    {
        var parameters = WorkflowSpecs.Parameters(spec, given);
        WorkflowSpecs.Validate(spec, parameters);
        var id = WorkflowSpecs.IdOf(spec, parameters);
        lock (_gate)
        {
            if (_active.TryGetValue(id, out var run)) lock (run) return run.Info.Clone();
            if (store.Find(id) is { } known) return known;
            var info = new WorkflowInfo { Id = id, Name = spec.Name, Spec = spec, State = WorkflowState.Pending, Created = Timestamp.FromDateTime(DateTime.UtcNow) };
            foreach (var (k, v) in parameters) info.Parameters[k] = v;
            foreach (var s in spec.Steps)
            {
                var sig = StepSignature.Of(WorkflowSteps.Family.Get(s.Method, "method"));
                info.Steps.Add(new StepInfo { Name = s.Name, Method = s.Method, Stage = s.Stage.Length > 0 ? s.Stage : sig.Stage, State = WorkflowState.Pending });
            }
            // Another replica may record the same workflow (same spec and parameters) at the same moment.
            return store.Insert(info) ? info : store.Find(id)!;
        }
    }

    /// <summary>The workflow's current state (live when running).</summary>
    public WorkflowInfo Get(string id)
    {
        if (_active.TryGetValue(id, out var run)) lock (run) return run.Info.Clone();
        return store.Find(id) ?? throw new NotFoundException("workflow", id);
    }

    /// <summary>One page of workflows, newest first (live state for those running here); see <see cref="IWorkflowStore.List"/>.</summary>
    public List<WorkflowInfo> List(WorkflowState state, int limit, WorkflowCursor? after = null) =>
        store.List(state, limit, after).Select(w => _active.TryGetValue(w.Id, out var r) ? Snapshot(r) : w).ToList();

    static WorkflowInfo Snapshot(Run r) { lock (r) return r.Info.Clone(); }

    /// <summary>
    /// Starts the workflow unless it runs already (or finished successfully), and returns a
    /// reader of its events beginning with a snapshot; null <paramref name="watch"/> starts only.
    /// When another replica holds the workflow's lease, the reader follows its progress through
    /// the store until it finishes (or this replica takes it over once the lease expired), until
    /// <paramref name="watcherGone"/>.
    /// </summary>
    public Channel<WorkflowEvent>? Start(string id, bool watch, CancellationToken watcherGone = default)
    {
        var ch = watch ? Channel.CreateUnbounded<WorkflowEvent>(new UnboundedChannelOptions { SingleReader = true }) : null;
        lock (_gate)
        {
            if (_active.TryGetValue(id, out var run))
            {
                if (ch is null) return null;
                Attach(run, ch);
                return ch;
            }
            var info = store.Find(id) ?? throw new NotFoundException("workflow", id);
            if (info.State == WorkflowState.Succeeded)
            {
                if (ch is null) return null;
                ch.Writer.TryWrite(new WorkflowEvent { WorkflowId = id, Snapshot = info });
                ch.Writer.TryWrite(new WorkflowEvent { WorkflowId = id, Finished = info });
                ch.Writer.Complete();
                return ch;
            }
            if (!store.TryClaim(id, Owner, Lease))
            {
                // Another replica runs it.
                if (ch is null) return null;
                ch.Writer.TryWrite(new WorkflowEvent { WorkflowId = id, Snapshot = info });
                _ = FollowAsync(id, ch, info, watcherGone);
                return ch;
            }
            // Read again now that it is ours: the previous owner may have written since.
            Launch(store.Find(id)!, ch);
            return ch;
        }
    }

    /// <summary>Starts a background run of a workflow whose lease this replica holds (under the gate).</summary>
    void Launch(WorkflowInfo info, Channel<WorkflowEvent>? watcher)
    {
        var run = new Run(info);
        if (watcher is not null) Attach(run, watcher);
        _active[info.Id] = run;
        run.Task = Task.Run(() => ExecuteAsync(run));
    }

    static void Attach(Run run, Channel<WorkflowEvent> watcher)
    {
        lock (run)
        {
            watcher.Writer.TryWrite(new WorkflowEvent { WorkflowId = run.Info.Id, Snapshot = run.Info.Clone() });
            run.Subscribers.Add(watcher.Writer);
        }
    }

    /// <summary>
    /// Follows a workflow another replica runs: reads its state every <see cref="FollowPeriod"/>,
    /// sends a StepFinished for each step that ended and Finished at the end; takes the workflow
    /// over when the owner's lease expires.
    /// </summary>
    async Task FollowAsync(string id, Channel<WorkflowEvent> watcher, WorkflowInfo seen, CancellationToken ct)
    {
        try
        {
            while (true)
            {
                await Task.Delay(FollowPeriod, ct);
                lock (_gate)
                {
                    if (_active.TryGetValue(id, out var run)) { Attach(run, watcher); return; }
                    if (store.Find(id) is not { } now) { watcher.Writer.TryComplete(); return; }
                    for (int i = 0; i < now.Steps.Count && i < seen.Steps.Count; i++)
                        if (now.Steps[i].State is WorkflowState.Succeeded or WorkflowState.Failed or WorkflowState.Cancelled
                            && (now.Steps[i].State != seen.Steps[i].State || now.Steps[i].StepKey != seen.Steps[i].StepKey))
                            watcher.Writer.TryWrite(new WorkflowEvent { WorkflowId = id, StepFinished = now.Steps[i] });
                    seen = now;
                    if (now.State is WorkflowState.Succeeded or WorkflowState.Failed or WorkflowState.Cancelled)
                    {
                        watcher.Writer.TryWrite(new WorkflowEvent { WorkflowId = id, Finished = now });
                        watcher.Writer.TryComplete();
                        return;
                    }
                    if (store.TryClaim(id, Owner, Lease))
                    {
                        logger.LogInformation("Taking over workflow {Id}: its owner's lease expired", id);
                        Launch(store.Find(id)!, watcher);
                        return;
                    }
                }
            }
        }
        catch (OperationCanceledException) { watcher.Writer.TryComplete(); }
        catch (Exception e)
        {
            logger.LogWarning(e, "Following workflow {Id} failed", id);
            watcher.Writer.TryComplete(e);
        }
    }

    /// <summary>Stops sending events to a reader (the workflow goes on).</summary>
    public void Unwatch(string id, Channel<WorkflowEvent> watcher)
    {
        if (!_active.TryGetValue(id, out var run)) return;
        lock (run) run.Subscribers.Remove(watcher.Writer);
    }

    /// <summary>
    /// Cancels a workflow: a running one at its current stage call, a waiting one at once; one
    /// that another replica runs when that replica next renews its lease.
    /// </summary>
    public WorkflowInfo Cancel(string id)
    {
        lock (_gate)
        {
            if (_active.TryGetValue(id, out var run))
            {
                run.Cancel();
                return Snapshot(run);
            }
            var info = store.Find(id) ?? throw new NotFoundException("workflow", id);
            if (info.State is not (WorkflowState.Pending or WorkflowState.Interrupted or WorkflowState.Running)) return info;
            if (!store.TryClaim(id, Owner, Lease))
            {
                store.RequestCancel(id);
                return info;
            }
            try
            {
                info = store.Find(id)!;
                if (info.State is WorkflowState.Pending or WorkflowState.Interrupted or WorkflowState.Running)
                {
                    info.State = WorkflowState.Cancelled;
                    store.SaveOwned(info, Owner, Lease);
                }
                return info;
            }
            finally { store.Release(id, Owner); }
        }
    }

    /// <summary>
    /// Takes over the workflows left running or pending by a stopped replica (no owner, or an
    /// expired lease): marks them interrupted and (optionally) continues them. Runs at start and
    /// then periodically (<see cref="WorkflowRecovery"/>), so the replicas that stay up finish
    /// the workflows of one that crashed.
    /// </summary>
    public IReadOnlyList<string> RecoverInterrupted(bool resume)
    {
        var ids = new List<string>();
        foreach (var id in store.Orphans())
        {
            lock (_gate)
            {
                if (_active.ContainsKey(id) || !store.TryClaim(id, Owner, Lease)) continue;
                // Read again under the lease: a replica may have started (and even finished) it meanwhile.
                if (store.Find(id) is not { State: WorkflowState.Running or WorkflowState.Pending } w)
                {
                    store.Release(id, Owner);
                    continue;
                }
                w.State = WorkflowState.Interrupted;
                foreach (var s in w.Steps.Where(s => s.State == WorkflowState.Running)) s.State = WorkflowState.Interrupted;
                store.SaveOwned(w, Owner, Lease);
                if (resume)
                {
                    logger.LogInformation("Resuming interrupted workflow {Id}", id);
                    Launch(w, null);
                }
                else store.Release(id, Owner);
            }
            ids.Add(id);
        }
        return ids;
    }

    /// <summary>
    /// Renews the lease of every run of this replica; a run whose lease was taken, or that could
    /// not renew for most of a lease (the store unreachable), is stopped before anyone else may
    /// start it; a run whose cancellation another replica requested is cancelled.
    /// </summary>
    void RenewLeases()
    {
        if (!Monitor.TryEnter(_renewing)) return;
        try
        {
            foreach (var run in _active.Values)
            {
                if (run.Lost) continue;
                var asked = Environment.TickCount64;
                try
                {
                    var lease = store.Renew(run.Info.Id, Owner, Lease);
                    if (!lease.Held) LoseLease(run, "another replica holds its lease");
                    else
                    {
                        run.RenewedAt = asked;
                        if (lease.CancelRequested) run.Cancel();
                    }
                }
                catch (Exception e)
                {
                    if (_disposed) return; // stopping: the leases are being given up
                    logger.LogWarning(e, "Renewing the lease of workflow {Id} failed", run.Info.Id);
                    if (asked - run.RenewedAt > (Lease - RenewPeriod / 2).TotalMilliseconds)
                        LoseLease(run, "its lease could not be renewed in time");
                }
            }
        }
        finally { Monitor.Exit(_renewing); }
    }

    void LoseLease(Run run, string why)
    {
        if (run.Lost) return;
        run.Lost = true;
        logger.LogWarning("Workflow {Id} stops here: {Why}", run.Info.Id, why);
        lock (run) run.Info.Error = $"stopped on this gateway replica: {why}; a replica holding the lease continues it";
        run.Cancel();
    }

    /// <summary>Waits for a workflow's background run (if any) to end.</summary>
    public Task WhenIdle(string id) => _active.TryGetValue(id, out var r) && r.Task is { } t ? t : Task.CompletedTask;

    void Publish(Run run, WorkflowEvent e)
    {
        e.WorkflowId = run.Info.Id;
        foreach (var w in run.Subscribers) w.TryWrite(e);
    }

    /// <summary>
    /// Applies a change to the run's state, stores it (while the run holds its lease; each step
    /// transition goes to the step log too), and publishes the event it makes.
    /// </summary>
    void Update(Run run, Action<WorkflowInfo> change, Func<WorkflowInfo, WorkflowEvent?> evt)
    {
        lock (run)
        {
            change(run.Info);
            var e = evt(run.Info);
            if (!run.Lost)
            {
                var log = e switch
                {
                    { StepStarted: { } s } => new StepLogEntry(run.Info.Id, s.Step, Owner, "started", default),
                    { StepFinished: { } s } => new StepLogEntry(run.Info.Id, s.Name, Owner, s.Reused ? "reused" : s.State.ToString().ToLowerInvariant(), default),
                    _ => null,
                };
                bool saved;
                try { saved = store.SaveOwned(run.Info, Owner, Lease, log); }
                catch (Exception x)
                {
                    logger.LogWarning(x, "Storing workflow {Id} failed", run.Info.Id);
                    saved = false;
                }
                if (!saved) LoseLease(run, "its state could not be stored under its lease");
            }
            if (e is not null) Publish(run, e);
        }
    }

    async Task ExecuteAsync(Run run)
    {
        var ct = run.Cts.Token;
        var id = run.Info.Id;
        try
        {
            // A cancellation requested while the previous owner held the lease still counts.
            if (store.Renew(id, Owner, Lease).CancelRequested) run.Cancel();
            await _slots.WaitAsync(ct);
            try { await ExecuteStepsAsync(run, ct); }
            finally { _slots.Release(); }
        }
        catch (Exception) when (ct.IsCancellationRequested)
        {
            if (!run.Lost) Update(run, i => { i.State = WorkflowState.Cancelled; i.Error = "cancelled"; }, _ => null);
        }
        catch (Exception e)
        {
            logger.LogError(e, "Workflow {Id} failed outside a step", id);
            Update(run, i => { i.State = WorkflowState.Failed; i.Error = e.Message; }, _ => null);
        }
        finally
        {
            lock (_gate)
            {
                try { store.Release(id, Owner); }
                catch (Exception e) { logger.LogWarning(e, "Releasing the lease of workflow {Id} failed (it expires by itself)", id); }
                lock (run)
                {
                    Publish(run, new WorkflowEvent { Finished = run.Info.Clone() });
                    foreach (var w in run.Subscribers) w.TryComplete();
                    run.Subscribers.Clear();
                }
                _active.TryRemove(id, out _);
            }
            run.Cts.Dispose();
        }
    }

    async Task ExecuteStepsAsync(Run run, CancellationToken ct)
    {
        Update(run, i => { i.State = WorkflowState.Running; i.Error = ""; }, _ => null);
        var spec = run.Info.Spec;
        for (int index = 0; index < spec.Steps.Count; index++)
        {
            ct.ThrowIfCancellationRequested();
            var def = spec.Steps[index];
            StepInfo step;
            lock (run) step = run.Info.Steps[index];
            if (step.State == WorkflowState.Succeeded && await OutputsExistAsync(step, ct)) continue;

            var entry = WorkflowSteps.Family.Get(def.Method, $"spec.steps[{index}].method");
            var signature = StepSignature.Of(entry);
            var stage = def.Stage.Length > 0 ? def.Stage : signature.Stage;
            Dictionary<string, string> inputs, opts;
            WorkflowInfo before;
            lock (run)
            {
                inputs = def.Inputs.ToDictionary(kv => kv.Key, kv => WorkflowSpecs.Resolve(kv.Value, run.Info));
                opts = def.Options.ToDictionary(kv => kv.Key, kv => WorkflowSpecs.Resolve(kv.Value, run.Info));
                before = run.Info.Clone();
            }
            while (before.Steps.Count > index) before.Steps.RemoveAt(before.Steps.Count - 1);
            var key = WorkflowSpecs.StepKey(def.Method, stage, inputs, opts, signature.ReadsWorkflow ? run.Info.Id : null);

            if (store.FindStepResult(key) is { } prior && await OutputsExistAsync(prior, ct))
            {
                Update(run, i =>
                {
                    var s = i.Steps[index];
                    Reset(s, key, stage, inputs);
                    s.Outputs.Add(prior.Outputs);
                    s.Metrics.Add(prior.Metrics);
                    s.State = WorkflowState.Succeeded;
                    s.Reused = true;
                    s.Started = s.Finished = Timestamp.FromDateTime(DateTime.UtcNow);
                }, i => new WorkflowEvent { StepFinished = i.Steps[index].Clone() });
                continue;
            }

            Update(run, i =>
            {
                var s = i.Steps[index];
                Reset(s, key, stage, inputs);
                s.State = WorkflowState.Running;
                s.Started = Timestamp.FromDateTime(DateTime.UtcNow);
            }, _ => new WorkflowEvent { StepStarted = new StepStarted { Step = def.Name, Stage = stage, Method = def.Method, Attempt = 1 } });
            FaultPoints.Reach("workflow.step", def.Name);

            try
            {
                // Options are parsed once, before any attempt: a bad value is the caller's to fix, not a retry's.
                var factory = entry.Create(OptionValues.Parse(entry.Options, WorkflowSpecs.Given(opts), $"steps.{def.Name}"));
                int attempt = 0;
                var result = await stages.ExecuteStepAsync(stage, probe: stage != GatewayStage.Name, contentKeyed: !signature.ReadsWorkflow, async token =>
                {
                    attempt++;
                    if (attempt > 1)
                        Update(run, i => i.Steps[index].Attempts = attempt,
                            _ => new WorkflowEvent { StepStarted = new StepStarted { Step = def.Name, Stage = stage, Method = def.Method, Attempt = attempt } });
                    else lock (run) run.Info.Steps[index].Attempts = 1;
                    var context = new StepContext(before, def.Name, stage, inputs, stages, services.GetRequiredService<IOptions<SuiteOptions>>().Value.BlockBytes,
                        p => { lock (run) Publish(run, new WorkflowEvent { StepProgress = p }); }, token);
                    return await factory(services).ExecuteAsync(context);
                }, ct);
                Update(run, i =>
                {
                    var s = i.Steps[index];
                    foreach (var (k, v) in result.Outputs) s.Outputs[k] = v;
                    foreach (var (k, v) in result.Metrics) s.Metrics[k] = v;
                    s.State = WorkflowState.Succeeded;
                    s.Finished = Timestamp.FromDateTime(DateTime.UtcNow);
                    store.SaveStepResult(s);
                }, i => new WorkflowEvent { StepFinished = i.Steps[index].Clone() });
            }
            catch (Exception) when (ct.IsCancellationRequested)
            {
                // Cancellation reaches the stage call, which ends CANCELLED (or the pipeline's OperationCanceled).
                Update(run, i =>
                {
                    i.Steps[index].State = WorkflowState.Cancelled;
                    i.Steps[index].Error = "cancelled";
                    i.Steps[index].Finished = Timestamp.FromDateTime(DateTime.UtcNow);
                }, i => new WorkflowEvent { StepFinished = i.Steps[index].Clone() });
                throw new OperationCanceledException(ct);
            }
            catch (Exception e)
            {
                var why = Describe(e, stage, stages.AddressOf(stage));
                if (e is not (RpcException or StageUnavailableException or InvalidInputException or NotFoundException or BrokenCircuitException or TimeoutRejectedException))
                    logger.LogError(e, "Workflow {Id} step {Step} failed", run.Info.Id, def.Name);
                Update(run, i =>
                {
                    var s = i.Steps[index];
                    s.State = WorkflowState.Failed;
                    s.Error = why;
                    s.Finished = Timestamp.FromDateTime(DateTime.UtcNow);
                    i.State = WorkflowState.Failed;
                    i.Error = $"step '{def.Name}' ({stage}/{def.Method}) failed: {why}";
                }, i => new WorkflowEvent { StepFinished = i.Steps[index].Clone() });
                return;
            }
        }
        Update(run, i => i.State = WorkflowState.Succeeded, _ => null);
    }

    static void Reset(StepInfo s, string key, string stage, Dictionary<string, string> inputs)
    {
        s.StepKey = key;
        s.Stage = stage;
        s.Outputs.Clear();
        s.Metrics.Clear();
        s.Error = "";
        s.Reused = false;
        s.Attempts = 0;
        s.Finished = null;
        s.ResolvedInputs.Clear();
        s.ResolvedInputs.Add(inputs);
    }

    /// <summary>Turns a failure into words a person can act on.</summary>
    public static string Describe(Exception e, string stage, string address) => e switch
    {
        StageUnavailableException u => u.Message,
        BrokenCircuitException => $"stage '{stage}' at {address} failed repeatedly; its circuit is open, calls resume after the break",
        TimeoutRejectedException t => $"stage '{stage}' did not finish within the step timeout ({t.Timeout.TotalSeconds:0}s, ConceptSuite:Gateway:StepTimeoutSeconds)",
        RpcException r when r.StatusCode == StatusCode.Unavailable => $"stage '{stage}' at {address} is unavailable ({r.Status.Detail})",
        RpcException r => $"{r.StatusCode}: {r.Status.Detail}",
        _ => e.Message,
    };

    async Task<bool> OutputsExistAsync(StepInfo step, CancellationToken ct)
    {
        if (step.Outputs.Count == 0) return true;
        var client = new ArtifactService.ArtifactServiceClient(stages.Channel(StageClients.Store));
        foreach (var r in step.Outputs.Values)
        {
            try { await client.GetArtifactInfoAsync(new GetArtifactInfoRequest { Id = r.Id }, cancellationToken: ct); }
            catch (RpcException e) when (e.StatusCode == StatusCode.NotFound) { return false; }
        }
        return true;
    }

    /// <summary>
    /// Stops every run of this replica and gives their leases up, leaving their state as it was
    /// (running), so another replica, or this one's next start, continues them at once.
    /// </summary>
    public void Dispose()
    {
        _disposed = true;
        _renewal.Dispose();
        foreach (var r in _active.Values)
        {
            r.Lost = true;
            r.Cancel();
            try { store.Release(r.Info.Id, Owner); }
            catch (Exception e) { logger.LogWarning(e, "Releasing the lease of workflow {Id} failed (it expires by itself)", r.Info.Id); }
        }
    }
}
