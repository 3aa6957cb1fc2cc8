using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Hosting;
using ConceptSuite.Core.Errors;
using ConceptSuite.Core.Tensors;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using TorchSharp;

namespace ConceptSuite.Core.Jobs;

/// <summary>What a finished job produced.</summary>
public sealed record JobOutcome(ArtifactInfo Artifact, IReadOnlyDictionary<string, double> Metrics);

/// <summary>
/// A job's identity: <see cref="Name"/> (the client's job_key, or the content hash when it gave
/// none) names the job's folder and its events; <see cref="Content"/> is the sha256 of the
/// request's content (config and inputs). The folder is bound to the content it was first used
/// for, so a key never answers with another request's result or resumes its checkpoint.
/// </summary>
public readonly record struct JobKey(string Name, string Content)
{
    public override string ToString() => Name;
}

/// <summary>
/// What a running job sees: its key, its cancellation, progress/metrics/message reporting, and
/// checkpoints (written durably and atomically under jobs/{stage}/{key}/ in the data directory,
/// with a sha256 manifest so that a torn or corrupt one is dropped instead of resumed).
/// </summary>
public sealed class JobContext
{
    const string Manifest = "checksums.json";
    static readonly string[] Files = ["tensors.safetensors", "state.json"];
    readonly ChannelWriter<JobEvent> _events;
    readonly string _dir;
    readonly ILogger _logger;

    internal JobContext(string key, string dir, ChannelWriter<JobEvent> events, ArtifactStore store, ILogger logger, CancellationToken ct)
    {
        Key = key; _dir = dir; _events = events; Store = store; _logger = logger; CancellationToken = ct;
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

    /// <summary>
    /// Saves tensors plus a JSON state as the job's checkpoint, replacing the last one: written to
    /// a temporary folder with a manifest of each file's sha256, flushed to the disk, then renamed
    /// into place. Nothing is written once the job is cancelled: a stopped job leaves the
    /// checkpoint it had, never one made after the call ended.
    /// </summary>
    public void SaveCheckpoint(IReadOnlyDictionary<string, torch.Tensor> tensors, string stateJson)
    {
        CancellationToken.ThrowIfCancellationRequested();
        Directory.CreateDirectory(_dir);
        var tmp = Path.Combine(_dir, "checkpoint.tmp-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(tmp);
        try
        {
            Safetensors.Save(Path.Combine(tmp, Files[0]), tensors);
            DurableFiles.WriteNew(Path.Combine(tmp, Files[1]), Encoding.UTF8.GetBytes(stateJson));
            var sums = Files.ToDictionary(f => f, f => Sha256(Path.Combine(tmp, f)));
            DurableFiles.WriteNew(Path.Combine(tmp, Manifest), JsonSerializer.SerializeToUtf8Bytes(sums));
            DurableFiles.SyncDirectory(tmp);
            var final = Path.Combine(_dir, "checkpoint");
            var old = Path.Combine(_dir, "checkpoint.old-" + Guid.NewGuid().ToString("N"));
            if (Directory.Exists(final)) Directory.Move(final, old);
            Directory.Move(tmp, final);
            DurableFiles.SyncDirectory(_dir);
            if (Directory.Exists(old)) Directory.Delete(old, true);
        }
        finally
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        }
    }

    /// <summary>
    /// The last good checkpoint of this job key, or null. A checkpoint whose files do not match its
    /// manifest (torn by a crash, corrupted on disk, or written before checkpoints had one) is
    /// removed with a logged warning and a warning event, and the job starts over. A crash between
    /// the two renames of <see cref="SaveCheckpoint"/> leaves only the previous checkpoint, under
    /// checkpoint.old-*: it is used then.
    /// </summary>
    public (Dictionary<string, torch.Tensor> Tensors, string StateJson)? LoadCheckpoint()
    {
        if (!Directory.Exists(_dir)) return null;
        var final = Path.Combine(_dir, "checkpoint");
        var candidates = new List<string>();
        if (Directory.Exists(final)) candidates.Add(final);
        candidates.AddRange(Directory.EnumerateDirectories(_dir, "checkpoint.old-*").OrderByDescending(Directory.GetLastWriteTimeUtc));
        (Dictionary<string, torch.Tensor>, string)? loaded = null;
        foreach (var dir in candidates)
        {
            if (loaded is null)
            {
                var why = Verify(dir);
                if (why is null)
                {
                    try
                    {
                        loaded = (Safetensors.Load(Path.Combine(dir, Files[0])), File.ReadAllText(Path.Combine(dir, Files[1])));
                        if (dir != final)
                        {
                            // The previous checkpoint takes its place again (the one under final was unusable or absent).
                            if (Directory.Exists(final)) Remove(final);
                            Directory.Move(dir, final);
                            DurableFiles.SyncDirectory(_dir);
                        }
                        continue;
                    }
                    catch (Exception e) when (e is IOException or InvalidDataException or FormatException or ArgumentException or System.Text.Json.JsonException)
                    {
                        why = $"{e.GetType().Name}: {e.Message}";
                    }
                }
                _logger.LogWarning("Job {Key}: checkpoint {Dir} is unusable ({Why}); dropped", Key, dir, why);
                Message($"checkpoint dropped ({why}); the job starts over from the last good state", JobMessage.Types.Level.Warning);
            }
            if (dir != final || loaded is null) Remove(dir);
        }
        foreach (var tmp in Directory.EnumerateDirectories(_dir, "checkpoint.tmp-*")) Remove(tmp);
        if (loaded is null) return null;
        Resumed = true;
        return loaded;
    }

    /// <summary>Null when every file of the checkpoint matches its manifest; else why not.</summary>
    static string? Verify(string dir)
    {
        var manifest = Path.Combine(dir, Manifest);
        if (!File.Exists(manifest)) return "no checksum manifest";
        Dictionary<string, string>? sums;
        try { sums = JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllBytes(manifest)); }
        catch (JsonException e) { return $"unreadable manifest ({e.Message})"; }
        if (sums is null) return "empty manifest";
        foreach (var f in Files)
        {
            var path = Path.Combine(dir, f);
            if (!sums.TryGetValue(f, out var expected)) return $"the manifest lacks {f}";
            if (!File.Exists(path)) return $"{f} is missing";
            if (Sha256(path) != expected) return $"{f} does not match its sha256";
        }
        return null;
    }

    static string Sha256(string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }

    static void Remove(string dir)
    {
        try { Directory.Delete(dir, true); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}

/// <summary>
/// Runs a stage's jobs: at most MaxConcurrentJobs at once and MaxQueuedJobs waiting (beyond that
/// RESOURCE_EXHAUSTED), one run per key at a time, cancellation from the call, events streamed
/// as they happen, a finished key answered from its stored result, an unfinished one resumed
/// from its checkpoint by the job's own code. A call returns only after its job's code has
/// stopped, so nothing of a cancelled job (a checkpoint, a read of its inputs) outlives the call.
/// </summary>
public sealed class JobRunner
{
    const string ContentFile = "content";
    readonly string _stage;
    readonly string _root;
    readonly SemaphoreSlim _slots;
    readonly int _capacity;
    readonly ArtifactStore _store;
    readonly ILogger _logger;
    readonly Dictionary<string, string> _running = new();
    readonly int _torchThreads;
    int _admitted;

    /// <param name="torchThreads">The OpenMP team size every piece of a job's code runs with (<see cref="OpenMpThreads.RunPinned{T}"/>).</param>
    public JobRunner(string stage, string dataDir, int maxConcurrent, int maxQueued, ArtifactStore store, ILogger logger, int torchThreads)
    {
        _torchThreads = torchThreads;
        _stage = stage;
        _root = Path.Combine(Path.GetFullPath(dataDir), "jobs", stage);
        _slots = new SemaphoreSlim(Math.Max(1, maxConcurrent));
        _capacity = Math.Max(1, maxConcurrent) + Math.Max(0, maxQueued);
        _store = store;
        _logger = logger;
    }

    public string Stage => _stage;
    public int Admitted => Volatile.Read(ref _admitted);

    /// <summary>
    /// The job's key: the request's own key (checked) or, when empty, its content hash; with the
    /// sha256 of <paramref name="content"/> (the request's config and inputs) either way.
    /// </summary>
    public static JobKey KeyFor(string requested, params string[] content)
    {
        var hash = ArtifactId.Of(content);
        if (string.IsNullOrEmpty(requested)) return new JobKey(hash, hash);
        if (requested.Length > 128 || !requested.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') || requested.StartsWith('.'))
            throw new InvalidInputException("job.job_key", "must be 1-128 characters of [A-Za-z0-9._-], not starting with '.'");
        return new JobKey(requested, hash);
    }

    /// <summary>
    /// A request message as job content for <see cref="KeyFor"/>: its JSON without its "job" field
    /// (the key and the checkpoint period name a run of the content, they are not part of it).
    /// </summary>
    public static string ContentOf(IMessage request)
    {
        var copy = request.Descriptor.Parser.ParseFrom(request.ToByteString());
        copy.Descriptor.FindFieldByName("job")?.Accessor.Clear(copy);
        return JsonFormatter.Default.Format(copy);
    }

    /// <summary>
    /// Runs <paramref name="work"/> under key and streams its events to <paramref name="output"/>.
    /// A failure writes a JobError event and then ends the call with the same status. A key that
    /// is bound to other content (running now, or with a stored result or checkpoint) is
    /// FAILED_PRECONDITION naming job.job_key.
    /// </summary>
    public async Task RunAsync(JobKey key, Func<JobContext, Task<JobOutcome>> work, IServerStreamWriter<JobEvent> output, CancellationToken ct)
    {
        if (Interlocked.Increment(ref _admitted) > _capacity)
        {
            Interlocked.Decrement(ref _admitted);
            throw new ResourceExhaustedException($"{_stage}: {_capacity} jobs already running or queued; retry later");
        }
        try
        {
            lock (_running)
            {
                if (_running.TryGetValue(key.Name, out var other))
                    throw other == key.Content ? new RpcException(new Status(StatusCode.Aborted, $"job '{key.Name}' is already running")) : KeyConflict(key.Name);
                Bind(key);
                _running.Add(key.Name, key.Content);
            }
            try { await RunAdmittedAsync(key.Name, work, output, ct); }
            finally { lock (_running) _running.Remove(key.Name); }
        }
        finally { Interlocked.Decrement(ref _admitted); }
    }

    static RpcException KeyConflict(string name) => new(new Status(StatusCode.FailedPrecondition,
        $"job.job_key: '{name}' names a job of other content (another config or other inputs); use a new key, or none to derive it from the content"));

    /// <summary>
    /// Binds the key's folder to the request's content (jobs/{stage}/{key}/content, written before
    /// any state). A folder bound to other content that holds a result or a checkpoint refuses the
    /// request; one that holds neither (its job failed before any state) is bound anew. State found
    /// without a binding (written before keys were bound) cannot be trusted and is removed.
    /// </summary>
    void Bind(JobKey key)
    {
        var dir = Path.Combine(_root, key.Name);
        var file = Path.Combine(dir, ContentFile);
        string? bound = null;
        try { bound = File.ReadAllText(file).Trim(); } catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { }
        if (bound == key.Content) return;
        bool hasState = File.Exists(Path.Combine(dir, "result.json")) || Directory.Exists(Path.Combine(dir, "checkpoint"))
            || (Directory.Exists(dir) && Directory.EnumerateDirectories(dir, "checkpoint.old-*").Any());
        if (hasState && bound is { Length: > 0 }) throw KeyConflict(key.Name);
        // A derived key is its content hash: its unbound state is of this content.
        if (hasState && key.Name != key.Content)
        {
            _logger.LogWarning("{Stage} job {Key}: state without a content binding removed; the job starts over", _stage, key.Name);
            Directory.Delete(dir, true);
        }
        Directory.CreateDirectory(dir);
        DurableFiles.WriteAllText(file, key.Content);
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
            // The job stops when the call is cancelled and also when its events can no longer be
            // written (the client went away before the call's token says so).
            using var jobCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var ctx = new JobContext(key, dir, channel.Writer, _store, _logger, jobCts.Token);
            // Not Task.Run(…, ct): a token cancelled before the start would skip the body, and
            // with it the completion of the event channel the loop below waits on. Pinned: the
            // job's tensor code gets one team size however its awaits hop between threads.
            var task = OpenMpThreads.RunPinned(_torchThreads, async () =>
            {
                try { return await work(ctx); }
                finally { channel.Writer.TryComplete(); }
            });
            Exception? lost = null;
            // Drained to the end whatever happens to the output: the loop ends only when the job's code has.
            await foreach (var e in channel.Reader.ReadAllAsync(CancellationToken.None))
            {
                if (lost is not null) continue;
                try { await output.WriteAsync(e); }
                catch (Exception ex)
                {
                    lost = ex;
                    jobCts.Cancel();
                }
            }
            JobOutcome outcome;
            try { outcome = await task; }
            catch (Exception ex)
            {
                bool cancelled = ct.IsCancellationRequested || lost is not null;
                var status = ErrorMappingInterceptor.ToStatus(ex, cancelled);
                if (status.StatusCode == StatusCode.Internal) _logger.LogError(ex, "{Stage} job {Key} failed", _stage, key);
                var detail = status.StatusCode == StatusCode.Internal ? "internal error; see the stage log" : status.Detail;
                var field = ex is InvalidInputException iie ? iie.Field : "";
                if (!cancelled)
                    await output.WriteAsync(new JobEvent { JobKey = key, Error = new JobError { Code = (int)status.StatusCode, Message = detail, Field = field } });
                throw new RpcException(new Status(status.StatusCode, detail));
            }
            var result = new JobResult { Artifact = outcome.Artifact, Resumed = ctx.Resumed };
            foreach (var (k, v) in outcome.Metrics) result.Metrics[k] = v;
            Directory.CreateDirectory(dir);
            DurableFiles.WriteAllText(resultFile, Google.Protobuf.JsonFormatter.Default.Format(result));
            var ckpt = Path.Combine(dir, "checkpoint");
            if (Directory.Exists(ckpt)) Directory.Delete(ckpt, true);
            if (lost is not null) throw new RpcException(new Status(StatusCode.Cancelled, "the job's events could not be written: " + lost.Message));
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
        catch (Exception e) when (e is IOException or Google.Protobuf.InvalidJsonException or InvalidInputException)
        {
            _logger.LogWarning("{Stage}: stored result {File} is unreadable ({Why}); the job runs again", _stage, resultFile, e.Message);
            return null;
        }
    }
}
