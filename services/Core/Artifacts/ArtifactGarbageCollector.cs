using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace ConceptSuite.Core.Artifacts;

/// <summary>
/// The artifacts something outside the store still needs: the process that holds the workflows
/// (the gateway) registers one, naming every artifact its workflows read or wrote.
/// </summary>
public interface IArtifactRoots
{
    /// <summary>
    /// The ids to keep. A workflow that finished before <paramref name="finishedBefore"/> (when
    /// given) keeps nothing any more; <c>Released</c> counts those workflows.
    /// </summary>
    (IReadOnlyCollection<string> Ids, int Released) Roots(DateTime? finishedBefore);
}

/// <summary>
/// Garbage collection of the artifact store against the workflows' roots (<see cref="IArtifactRoots"/>),
/// on request (the CollectGarbage RPC) and, with <see cref="StoreOptions.GcIntervalMinutes"/>, periodically.
/// A process without roots (a stage without the gateway) refuses to collect: it cannot tell a
/// workflow's output from garbage.
/// </summary>
public sealed class ArtifactGarbageCollector(ArtifactStore store, IOptions<StoreOptions> options, IEnumerable<IArtifactRoots> roots,
    ILogger<ArtifactGarbageCollector> logger)
{
    readonly SemaphoreSlim _one = new(1, 1);

    /// <summary>True when this process holds the workflows and can collect.</summary>
    public bool CanCollect => roots.Any();

    /// <summary>
    /// Runs one collection (one at a time). <paramref name="minAge"/> and <paramref name="retention"/>
    /// override the options when given (retention ≤ 0: workflows keep their artifacts for ever).
    /// </summary>
    public async Task<(GarbageReport Report, int ReleasedWorkflows)> CollectAsync(bool dryRun, TimeSpan? minAge = null, TimeSpan? retention = null,
        CancellationToken ct = default)
    {
        if (!CanCollect) throw new InvalidOperationException("this process holds no workflows");
        var o = options.Value;
        var keepFor = retention ?? TimeSpan.FromDays(o.WorkflowRetentionDays);
        DateTime? cutoff = keepFor > TimeSpan.Zero ? DateTime.UtcNow - keepFor : null;
        await _one.WaitAsync(ct);
        try
        {
            var ids = new HashSet<string>(StringComparer.Ordinal);
            int released = 0;
            foreach (var r in roots)
            {
                var (some, rel) = r.Roots(cutoff);
                ids.UnionWith(some);
                released += rel;
            }
            var report = store.CollectGarbage(ids, minAge ?? TimeSpan.FromMinutes(o.GcMinAgeMinutes), dryRun);
            if (released > 0 && !dryRun) logger.LogInformation("{Released} workflows are past their retention; their artifacts were collectable", released);
            return (report, released);
        }
        finally { _one.Release(); }
    }
}

/// <summary>Runs <see cref="ArtifactGarbageCollector"/> every <see cref="StoreOptions.GcIntervalMinutes"/> where it can collect.</summary>
public sealed class PeriodicGarbageCollection(ArtifactGarbageCollector collector, IOptions<StoreOptions> options,
    ILogger<PeriodicGarbageCollection> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var minutes = options.Value.GcIntervalMinutes;
        if (minutes <= 0 || !collector.CanCollect) return;
        using var timer = new PeriodicTimer(TimeSpan.FromMinutes(minutes));
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                var (r, released) = await collector.CollectAsync(dryRun: false, ct: stoppingToken);
                logger.LogInformation("Periodic collection: {Deleted} artifacts deleted ({Bytes} bytes), {Kept} kept, {Released} workflows past retention",
                    r.Deleted.Count, r.FreedBytes, r.Kept, released);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Periodic artifact collection failed; it runs again at the next interval");
            }
        }
    }
}
