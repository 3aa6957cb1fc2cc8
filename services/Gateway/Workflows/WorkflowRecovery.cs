using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace ConceptSuite.Gateway.Workflows;

/// <summary>
/// At start (once the server listens) and then every half lease, takes over the workflows that a
/// stopped replica (or this process before a restart) left running or pending and whose lease has
/// expired, and continues them (ConceptSuite:Gateway:ResumeOnStart).
/// </summary>
public sealed class WorkflowRecovery(WorkflowEngine engine, IOptions<GatewayOptions> options, IHostApplicationLifetime lifetime, ILogger<WorkflowRecovery> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource();
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        using (stoppingToken.Register(() => started.TrySetCanceled()))
            try { await started.Task; }
            catch (OperationCanceledException) { return; }
        var period = engine.Lease / 2;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var ids = engine.RecoverInterrupted(options.Value.ResumeOnStart);
                if (ids.Count > 0) logger.LogInformation("{Count} interrupted workflow(s) taken over: {Ids}", ids.Count, string.Join(", ", ids));
            }
            catch (Exception e) { logger.LogError(e, "Recovering interrupted workflows failed"); }
            try { await Task.Delay(period, stoppingToken); }
            catch (OperationCanceledException) { return; }
        }
    }
}
