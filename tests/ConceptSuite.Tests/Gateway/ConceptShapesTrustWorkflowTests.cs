using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using ConceptSuite.Contracts;
using ConceptSuite.Gateway.Steps;
using Xunit.Abstractions;
using static ConceptSuite.Tests.Gateway.GatewayHarness;

namespace ConceptSuite.Tests.Gateway;

/// <summary>
/// The built-in workflow concept-shapes-trust on the real stages: discovered concepts of ResNet18
/// features of concept-shapes, named, used by a sparse concept bottleneck, and checked against the
/// scenes' ground truth (existence, location), with heatmaps in the atlas.
/// </summary>
public sealed class ConceptShapesTrustWorkflowTests(ITestOutputHelper output)
{
    static StepInfo S(WorkflowInfo w, string name) => w.Steps.Single(s => s.Name == name);

    [Fact]
    public async Task TrustWorkflowMeasuresExistenceAndLocationAndDrawsHeatmapsInTheAtlas()
    {
        await using var server = await StartAsync();
        var sw = Stopwatch.StartNew();
        var w = await RunBuiltinAsync(server.Channel, "concept-shapes-trust", TimeSpan.FromMinutes(4));
        output.WriteLine($"{w.Spec.Name}: {w.State} in {sw.Elapsed.TotalSeconds:F1} s");
        foreach (var s in w.Steps)
            output.WriteLine($"  {s.Name} ({(s.Finished is null || s.Started is null ? 0 : (s.Finished.ToDateTime() - s.Started.ToDateTime()).TotalSeconds):F1} s): " +
                string.Join("  ", s.Metrics.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value:G6}")));
        Assert.True(w.State == WorkflowState.Succeeded, w.Error);

        var store = server.Channel.CreateCallInvoker();
        var (trustInfo, trustTensors) = await ArtifactTransfer.ReadSmallAsync(store, S(w, "trust").Outputs["report"].Id);
        output.WriteLine(trustInfo.MetadataJson);
        var (mapsInfo, mapsTensors) = await ArtifactTransfer.ReadSmallAsync(store, S(w, "attribution-maps").Outputs["maps"].Id);
        output.WriteLine(mapsInfo.MetadataJson + " maps [" + string.Join(", ", mapsTensors["maps"].Shape) + "]");
        var (_, atlas) = await ArtifactTransfer.ReadSmallAsync(store, S(w, "atlas").Outputs["atlas"].Id, ["html"]);
        var html = Encoding.UTF8.GetString(atlas["html"].Data);
        output.WriteLine($"atlas: {html.Length} chars, {Regex.Count(html, ": where it is, image ")} heatmaps, {Regex.Count(html, "trust \\(ground truth\\)")} trust tables");
    }
}
