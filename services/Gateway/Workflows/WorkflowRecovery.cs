using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace ConceptSuite.Gateway.Workflows;

/// <summary>At start (once the server listens), continues the workflows a stopped server left running.</summary>
public sealed class WorkflowRecovery(WorkflowEngine engine, IOptions<GatewayOptions> options, IHostApplicationLifetime lifetime, ILogger<WorkflowRecovery> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStarted.Register(() =>
        {
            try
            {
                var ids = engine.RecoverInterrupted(options.Value.ResumeOnStart);
                if (ids.Count > 0) logger.LogInformation("{Count} interrupted workflow(s): {Ids}", ids.Count, string.Join(", ", ids));
            }
            catch (Exception e) { logger.LogError(e, "Recovering interrupted workflows failed"); }
        });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
