using System.Collections.Concurrent;
using System.Threading.Channels;
using ConceptSuite.Contracts;
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
/// options) and its artifacts still exist. State is written to SQLite at every transition, so a
/// crash loses at most the running step, and ResumeWorkflow (or the next start) continues there.
/// </summary>
public sealed class WorkflowEngine(WorkflowStore store, StageClients stages, IServiceProvider services,
    IOptions<GatewayOptions> options, ILogger<WorkflowEngine> logger) : IDisposable
{
    readonly ConcurrentDictionary<string, Run> _active = new();
    readonly SemaphoreSlim _slots = new(Math.Max(1, options.Value.MaxConcurrentWorkflows));
    readonly object _gate = new();

    sealed class Run(WorkflowInfo info)
    {
        public WorkflowInfo Info = info;
        public readonly CancellationTokenSource Cts = new();
        public readonly List<ChannelWriter<WorkflowEvent>> Subscribers = [];
        public Task? Task;
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
            store.Save(info);
            return info;
        }
    }

    /// <summary>The workflow's current state (live when running).</summary>
    public WorkflowInfo Get(string id)
    {
        if (_active.TryGetValue(id, out var run)) lock (run) return run.Info.Clone();
        return store.Find(id) ?? throw new NotFoundException("workflow", id);
    }

    public List<WorkflowInfo> List(WorkflowState state)
    {
        var list = store.List(WorkflowState.Unspecified).Select(w => _active.TryGetValue(w.Id, out var r) ? Snapshot(r) : w);
        return list.Where(w => state == WorkflowState.Unspecified || w.State == state).ToList();
    }

    static WorkflowInfo Snapshot(Run r) { lock (r) return r.Info.Clone(); }

    /// <summary>
    /// Starts the workflow unless it runs already (or finished successfully), and returns a
    /// reader of its events beginning with a snapshot; null <paramref name="watch"/> starts only.
    /// </summary>
    public Channel<WorkflowEvent>? Start(string id, bool watch)
    {
        var ch = watch ? Channel.CreateUnbounded<WorkflowEvent>(new UnboundedChannelOptions { SingleReader = true }) : null;
        lock (_gate)
        {
            if (_active.TryGetValue(id, out var run))
            {
                if (ch is null) return null;
                lock (run)
                {
                    ch.Writer.TryWrite(new WorkflowEvent { WorkflowId = id, Snapshot = run.Info.Clone() });
                    run.Subscribers.Add(ch.Writer);
                }
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
            run = new Run(info);
            if (ch is not null)
            {
                ch.Writer.TryWrite(new WorkflowEvent { WorkflowId = id, Snapshot = info.Clone() });
                run.Subscribers.Add(ch.Writer);
            }
            _active[id] = run;
            run.Task = Task.Run(() => ExecuteAsync(run));
            return ch;
        }
    }

    /// <summary>Stops sending events to a reader (the workflow goes on).</summary>
    public void Unwatch(string id, Channel<WorkflowEvent> watcher)
    {
        if (!_active.TryGetValue(id, out var run)) return;
        lock (run) run.Subscribers.Remove(watcher.Writer);
    }

    /// <summary>Cancels a workflow: a running one at its current stage call, a waiting one at once.</summary>
    public WorkflowInfo Cancel(string id)
    {
        lock (_gate)
        {
            if (_active.TryGetValue(id, out var run))
            {
                run.Cts.Cancel();
                return Snapshot(run);
            }
            var info = store.Find(id) ?? throw new NotFoundException("workflow", id);
            if (info.State is WorkflowState.Pending or WorkflowState.Interrupted or WorkflowState.Running)
            {
                info.State = WorkflowState.Cancelled;
                store.Save(info);
            }
            return info;
        }
    }

    /// <summary>
    /// Marks workflows left running by a stopped server as interrupted and (optionally) continues
    /// them; so too those still pending (accepted, but waiting for a slot when the server stopped).
    /// </summary>
    public IReadOnlyList<string> RecoverInterrupted(bool resume)
    {
        var ids = new List<string>();
        foreach (var listed in store.List(WorkflowState.Running).Concat(store.List(WorkflowState.Pending)))
        {
            lock (_gate)
            {
                // Read again under the gate: a request may have started (and even finished) it meanwhile.
                if (_active.ContainsKey(listed.Id) || store.Find(listed.Id) is not { State: WorkflowState.Running or WorkflowState.Pending } w) continue;
                w.State = WorkflowState.Interrupted;
                foreach (var s in w.Steps.Where(s => s.State == WorkflowState.Running)) s.State = WorkflowState.Interrupted;
                store.Save(w);
            }
            ids.Add(listed.Id);
        }
        if (resume)
            foreach (var id in ids)
            {
                logger.LogInformation("Resuming interrupted workflow {Id}", id);
                Start(id, watch: false);
            }
        return ids;
    }

    /// <summary>Waits for a workflow's background run (if any) to end.</summary>
    public Task WhenIdle(string id) => _active.TryGetValue(id, out var r) && r.Task is { } t ? t : Task.CompletedTask;

    void Publish(Run run, WorkflowEvent e)
    {
        e.WorkflowId = run.Info.Id;
        foreach (var w in run.Subscribers) w.TryWrite(e);
    }

    /// <summary>Applies a change to the run's state, stores it, and publishes the event it makes.</summary>
    void Update(Run run, Action<WorkflowInfo> change, Func<WorkflowInfo, WorkflowEvent?> evt)
    {
        lock (run)
        {
            change(run.Info);
            store.Save(run.Info);
            if (evt(run.Info) is { } e) Publish(run, e);
        }
    }

    async Task ExecuteAsync(Run run)
    {
        var ct = run.Cts.Token;
        var id = run.Info.Id;
        try
        {
            await _slots.WaitAsync(ct);
            try { await ExecuteStepsAsync(run, ct); }
            finally { _slots.Release(); }
        }
        catch (Exception) when (ct.IsCancellationRequested)
        {
            Update(run, i => { i.State = WorkflowState.Cancelled; i.Error = "cancelled"; }, _ => null);
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

    public void Dispose()
    {
        foreach (var r in _active.Values) r.Cts.Cancel();
        _slots.Dispose();
    }
}
