using ConceptSuite.Benchmarks;
using ConceptSuite.Tests.Infrastructure;

namespace ConceptSuite.Tests.Capacity;

/// <summary>
/// The short load run: 8 clients for 10 s against the server binary with every stage, mixing
/// EmbedImages, small Fit jobs, Predict, CompareRepresentations and tensor echoes
/// (LoadRun, compiled from tests/Benchmarks; the long run is `tests/Benchmarks -- load`, figures in BENCHMARKS.md).
/// </summary>
public sealed class LoadTests
{
    /// <summary>
    /// The stated bound on the server's peak RSS under this load. Measured: the long run (32
    /// clients × 60 s) peaked at the figure in BENCHMARKS.md ("Load"); resnet18 and libtorch alone
    /// take about 0.6 GB.
    /// </summary>
    const long RssBoundBytes = 3L << 30;

    [Fact]
    public async Task EightClientsForTenSecondsGetOnlyOkOrResourceExhaustedAndTheServerStaysHealthy()
    {
        using var server = await ServerProcess.StartAsync(null, "all", "");
        var report = await LoadRun.RunAsync(server.Address, server.Process.Id, 8, TimeSpan.FromSeconds(10), Console.Out);
        report.Print(Console.Out);
        Assert.True(report.OnlyOkOrResourceExhausted, string.Join("; ", report.FirstErrors.Select(kv => $"{kv.Key}: {kv.Value}")));
        foreach (var rpc in LoadRun.Rpcs) Assert.True(report.Ok(rpc) > 0, $"no {rpc} call succeeded");
        Assert.InRange(report.PeakRssBytes, 1, RssBoundBytes);
        Assert.True(report.HealthyAfter, "the server did not serve after the load");
        Assert.False(server.HasExited);
    }
}
