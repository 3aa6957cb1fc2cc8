using Grpc.Core;

namespace ConceptSuite.Benchmarks;

/// <summary>What a load run measured: latencies of the calls that succeeded, statuses, the server's peak RSS, its health afterwards.</summary>
public sealed record LoadReport(
    int Clients, TimeSpan Wall, Dictionary<string, List<double>> LatencyMs, Dictionary<(string Rpc, StatusCode Code), int> Statuses,
    Dictionary<string, string> FirstErrors, long PeakRssBytes, bool HealthyAfter)
{
    public int Calls => Statuses.Values.Sum();
    public int Ok(string rpc) => Statuses.GetValueOrDefault((rpc, StatusCode.OK));
    public bool OnlyOkOrResourceExhausted => Statuses.Keys.All(k => k.Code is StatusCode.OK or StatusCode.ResourceExhausted);

    /// <summary>The q-quantile (nearest rank) of the successful calls' latencies, ms; NaN when none succeeded.</summary>
    public double Quantile(string rpc, double q)
    {
        if (!LatencyMs.TryGetValue(rpc, out var l) || l.Count == 0) return double.NaN;
        var s = l.Order().ToList();
        return s[Math.Clamp((int)Math.Ceiling(q * s.Count) - 1, 0, s.Count - 1)];
    }

    public void Print(TextWriter w)
    {
        w.WriteLine($"| RPC | OK | RESOURCE_EXHAUSTED | other | p50 ms | p99 ms |");
        w.WriteLine($"|---|---|---|---|---|---|");
        foreach (var rpc in LoadRun.Rpcs)
        {
            int re = Statuses.GetValueOrDefault((rpc, StatusCode.ResourceExhausted));
            var other = Statuses.Where(kv => kv.Key.Rpc == rpc && kv.Key.Code is not (StatusCode.OK or StatusCode.ResourceExhausted)).ToList();
            string others = other.Count == 0 ? "0" : string.Join(", ", other.Select(kv => $"{kv.Key.Code} {kv.Value}"));
            w.WriteLine($"| {rpc} | {Ok(rpc)} | {re} | {others} | {Quantile(rpc, 0.5):F0} | {Quantile(rpc, 0.99):F0} |");
        }
        foreach (var (what, detail) in FirstErrors) w.WriteLine($"first {what}: {detail}");
        w.WriteLine($"load clients={Clients} seconds={Wall.TotalSeconds:F0} calls={Calls} ok={Statuses.Where(kv => kv.Key.Code == StatusCode.OK).Sum(kv => kv.Value)} " +
            $"only-ok-or-resource-exhausted={OnlyOkOrResourceExhausted} peak-rss-mib={PeakRssBytes / (1 << 20)} healthy-after={HealthyAfter}");
    }
}
