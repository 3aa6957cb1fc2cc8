using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Jobs;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace ConceptSuite.Core.Hosting;

/// <summary>Per-stage job runners (each stage bounds its own jobs).</summary>
public sealed class JobRunners(IOptions<SuiteOptions> options, ArtifactStore store, ILoggerFactory loggers)
{
    readonly Dictionary<string, JobRunner> _runners = new();

    public JobRunner For(string stage)
    {
        lock (_runners)
        {
            if (!_runners.TryGetValue(stage, out var r))
            {
                var o = options.Value;
                _runners[stage] = r = new JobRunner(stage, o.DataDir, o.MaxConcurrentJobs, o.MaxQueuedJobs, store,
                    loggers.CreateLogger($"ConceptSuite.Jobs.{stage}"), OpenMpThreads.Resolve(o.TorchThreads));
            }
            return r;
        }
    }
}
