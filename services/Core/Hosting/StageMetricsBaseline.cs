using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;

namespace ConceptSuite.Core.Hosting;

/// <summary>
/// Publishes a zero for each declared stage's in-flight and rejected series as soon as the server
/// starts, so /metrics carries conceptsuite_inflight_requests{stage="..."} before the first RPC.
/// Autoscalers that read the series (a Kubernetes HPA through prometheus-adapter) then see an idle
/// pod as 0 instead of as a missing metric, which would stop them from scaling at all.
/// </summary>
public static class StageMetricsBaseline
{
    public static void PublishStageBaselines(this IServiceProvider services)
    {
        // The meter provider is built lazily; measurements made before it exists are dropped.
        _ = services.GetService<MeterProvider>();
        var metrics = services.GetRequiredService<SuiteMetrics>();
        foreach (var d in services.GetServices<StageDeclaration>())
        {
            var tag = SuiteMetrics.Stage(d.Stage);
            metrics.InFlight.Add(0, tag);
            metrics.Rejected.Add(0, tag);
        }
    }
}
