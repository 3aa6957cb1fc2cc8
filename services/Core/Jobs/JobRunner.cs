using System.Text.Json;
using System.Threading.Channels;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Errors;
using ConceptSuite.Core.Tensors;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using TorchSharp;

namespace ConceptSuite.Core.Jobs;

/// <summary>What a finished job produced.</summary>
public sealed record JobOutcome(ArtifactInfo Artifact, IReadOnlyDictionary<string, double> Metrics);

/// <summary>
/// What a running job sees: its key, its cancellation, progress/metrics/message reporting, and
/// checkpoints (written atomically under jobs/{stage}/{key}/ in the data directory).
/// </summary>
public sealed class JobContext
{
    readonly ChannelWriter<JobEvent> _events;
    readonly string _dir;

    internal JobContext(string key, string dir, ChannelWriter<JobEvent> events, ArtifactStore store, CancellationToken ct)
    {
        Key = key; _dir = dir; _events = events; Store = store; CancellationToken = ct;
    }

    public string Key { get; }
    public CancellationToken CancellationToken { get; }
    public ArtifactStore Store { get; }
    /// <summary>True once <see cref="LoadCheckpoint"/> returned a checkpoint.</summary>
    public bool Resumed { get; private set; }

    public void Progress(long done, long total, string unit, string phase = "") =>
        _events.TryWrite(new JobEvent { JobKey = Key, Progress = new JobProgress { Done = done, Total = total, Unit = unit, Phase = phase } });

    public void Metrics(long step, IReadOnlyDictionary<string, double> values)
    {
        var m = new JobMetrics { Step = step };
        foreach (var (k, v) in values) m.Values[k] = v;
        _events.TryWrite(new JobEvent { JobKey = Key, Metrics = m });
    }

    public void Message(string text, JobMessage.Types.Level level = JobMessage.Types.Level.Info) =>
        _events.TryWrite(new JobEvent { JobKey = Key, Message = new JobMessage { Level = level, Text = text } });

    /// <summary>Saves tensors plus a JSON state as the job's checkpoint (replacing the last one atomically).</summary>
    public void SaveCheckpoint(IReadOnlyDictionary<string, torch.Tensor> tensors, string stateJson)
    {
        Directory.CreateDirectory(_dir);
        var tmp = Path.Combine(_dir, "checkpoint.tmp-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(tmp);
        try
        {
            Safetensors.Save(Path.Combine(tmp, "tensors.safetensors"), tensors);
            File.WriteAllText(Path.Combine(tmp, "state.json"), stateJson);
            var final = Path.Combine(_dir, "checkpoint");
            var old = Path.Combine(_dir, "checkpoint.old-" + Guid.NewGuid().ToString("N"));
            if (Directory.Exists(final)) Directory.Move(final, old);
            Directory.Move(tmp, final);
            if (Directory.Exists(old)) Directory.Delete(old, true);
        }
        finally
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        }
    }

    /// <summary>The last checkpoint of this job key, or null.</summary>
    public (Dictionary<string, torch.Tensor> Tensors, string StateJson)? LoadCheckpoint()
    {
        var dir = Path.Combine(_dir, "checkpoint");
        if (!File.Exists(Path.Combine(dir, "state.json"))) return null;
        var tensors = Safetensors.Load(Path.Combine(dir, "tensors.safetensors"));
        Resumed = true;
        return (tensors, File.ReadAllText(Path.Combine(dir, "state.json")));
    }
}

/// <summary>
/// Runs a stage's jobs: at most MaxConcurrentJobs at once and MaxQueuedJobs waiting (beyond that
/// RESOURCE_EXHAUSTED), one run per key at a time, cancellation from the call, events streamed
/// as they happen, a finished key answered from its stored result, an unfinished one resumed
/// from its checkpoint by the job's own code.
/// </summary>
public sealed class JobRunner
{
    readonly string _stage;
    readonly string _root;
    readonly SemaphoreSlim _slots;
    readonly int _capacity;
    readonly ArtifactStore _store;
    readonly ILogger _logger;
    readonly HashSet<string> _running = new();
    int _admitted;

    public JobRunner(string stage, string dataDir, int maxConcurrent, int maxQueued, ArtifactStore store, ILogger logger)
    {
        _stage = stage;
        _root = Path.Combine(Path.GetFullPath(dataDir), "jobs", stage);
        _slots = new SemaphoreSlim(Math.Max(1, maxConcurrent));
        _capacity = Math.Max(1, maxConcurrent) + Math.Max(0, maxQueued);
        _store = store;
        _logger = logger;
    }

    public string Stage => _stage;
    public int Admitted => Volatile.Read(ref _admitted);

    /// <summary>A job key from the request's own key, or from its content when empty.</summary>
    public static string KeyFor(string requested, params string[] content)
    {
        if (string.IsNullOrEmpty(requested)) return ArtifactId.Of(content);
        if (requested.Length > 128 || !requested.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') || requested.StartsWith('.'))
            throw new InvalidInputException("job.job_key", "must be 1-128 characters of [A-Za-z0-9._-], not starting with '.'");
        return requested;
    }

    /// <summary>
    /// Runs <paramref name="work"/> under key and streams its events to <paramref name="output"/>.
    /// A failure writes a JobError event and then ends the call with the same status.
    /// </summary>
    public async Task RunAsync(string key, Func<JobContext, Task<JobOutcome>> work, IServerStreamWriter<JobEvent> output, CancellationToken ct)
    {
        if (Interlocked.Increment(ref _admitted) > _capacity)
        {
            Interlocked.Decrement(ref _admitted);
            throw new ResourceExhaustedException($"{_stage}: {_capacity} jobs already running or queued; retry later");
        }
        try
        {
            lock (_running)
                if (!_running.Add(key)) throw new RpcException(new Status(StatusCode.Aborted, $"job '{key}' is already running"));
            try { await RunAdmittedAsync(key, work, output, ct); }
            finally { lock (_running) _running.Remove(key); }
        }
        finally { Interlocked.Decrement(ref _admitted); }
    }

    async Task RunAdmittedAsync(string key, Func<JobContext, Task<JobOutcome>> work, IServerStreamWriter<JobEvent> output, CancellationToken ct)
    {
        var dir = Path.Combine(_root, key);
        var resultFile = Path.Combine(dir, "result.json");
        if (TryCached(resultFile) is { } cached)
        {
            cached.Cached = true;
            await output.WriteAsync(new JobEvent { JobKey = key, Result = cached });
            return;
        }

        await _slots.WaitAsync(ct);
        try
        {
            var channel = Channel.CreateUnbounded<JobEvent>(new UnboundedChannelOptions { SingleReader = true });
            var ctx = new JobContext(key, dir, channel.Writer, _store, ct);
            // Not Task.Run(…, ct): a token cancelled before the start would skip the body, and
            // with it the completion of the event channel the loop below waits on.
            var task = Task.Run(async () =>
            {
                try { return await work(ctx); }
                finally { channel.Writer.TryComplete(); }
            });
            await foreach (var e in channel.Reader.ReadAllAsync(CancellationToken.None))
            {
                try { await output.WriteAsync(e); }
                catch (Exception) when (ct.IsCancellationRequested) { }
            }
            JobOutcome outcome;
            try { outcome = await task; }
            catch (Exception ex)
            {
                var status = ErrorMappingInterceptor.ToStatus(ex, ct.IsCancellationRequested);
                if (status.StatusCode == StatusCode.Internal) _logger.LogError(ex, "{Stage} job {Key} failed", _stage, key);
                var detail = status.StatusCode == StatusCode.Internal ? "internal error; see the stage log" : status.Detail;
                var field = ex is InvalidInputException iie ? iie.Field : "";
                if (!ct.IsCancellationRequested)
                    await output.WriteAsync(new JobEvent { JobKey = key, Error = new JobError { Code = (int)status.StatusCode, Message = detail, Field = field } });
                throw new RpcException(new Status(status.StatusCode, detail));
            }
            var result = new JobResult { Artifact = outcome.Artifact, Resumed = ctx.Resumed };
            foreach (var (k, v) in outcome.Metrics) result.Metrics[k] = v;
            Directory.CreateDirectory(dir);
            var tmp = resultFile + ".tmp-" + Guid.NewGuid().ToString("N");
            File.WriteAllText(tmp, Google.Protobuf.JsonFormatter.Default.Format(result));
            File.Move(tmp, resultFile, true);
            var ckpt = Path.Combine(dir, "checkpoint");
            if (Directory.Exists(ckpt)) Directory.Delete(ckpt, true);
            await output.WriteAsync(new JobEvent { JobKey = key, Result = result });
        }
        finally { _slots.Release(); }
    }

    JobResult? TryCached(string resultFile)
    {
        if (!File.Exists(resultFile)) return null;
        try
        {
            var r = JobResult.Parser.ParseJson(File.ReadAllText(resultFile));
            return r.Artifact?.Ref is { } a && _store.Exists(a.Id) ? r : null;
        }
        catch (Exception e) when (e is IOException or Google.Protobuf.InvalidJsonException or InvalidInputException) { return null; }
    }
}
