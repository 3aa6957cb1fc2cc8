using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace ConceptSuite.Core.Hosting;

/// <summary>
/// The suite's instruments (meter "ConceptSuite"), scraped at /metrics. The autoscalers of the
/// deployment read conceptsuite_inflight_requests per stage.
/// </summary>
public sealed class SuiteMetrics : IDisposable
{
    public const string MeterName = "ConceptSuite";
    readonly Meter _meter = new(MeterName);

    public SuiteMetrics()
    {
        InFlight = _meter.CreateUpDownCounter<long>("conceptsuite.inflight_requests", description: "RPCs in progress, by stage");
        Rejected = _meter.CreateCounter<long>("conceptsuite.rejected_requests", description: "RPCs refused with RESOURCE_EXHAUSTED, by stage");
        Duration = _meter.CreateHistogram<double>("conceptsuite.request_duration", unit: "s", description: "RPC duration, by stage and method");
        StreamedBytes = _meter.CreateCounter<long>("conceptsuite.streamed_bytes", unit: "By", description: "Tensor payload bytes received, by stage");
    }

    public UpDownCounter<long> InFlight { get; }
    public Counter<long> Rejected { get; }
    public Histogram<double> Duration { get; }
    public Counter<long> StreamedBytes { get; }

    public static KeyValuePair<string, object?> Stage(string stage) => new("stage", stage);

    public void Dispose() => _meter.Dispose();
}
