using System.Text.RegularExpressions;
using ConceptSuite.Contracts;
using static ConceptSuite.Tests.Gateway.GatewayHarness;

namespace ConceptSuite.Tests.Gateway;

/// <summary>
/// The README's workflow spec (what `concept run scocca.json` sends) that fits SCoCCA on two modalities:
/// concept-shapes images embedded by ResNet18, paired with their captions embedded by MiniLM
/// (embedding.captions), through discovery.fit's paired input; then the image-side codes.
/// </summary>
public sealed class PairedWorkflowTests
{
    [Fact]
    public async Task DiscoveryFitTakesCaptionEmbeddingsAsThePairedModality()
    {
        await using var server = await StartAsync();
        var readme = File.ReadAllText(Path.Combine(Deploy.DeployAssets.RepoRoot, "README.md"));
        var block = Regex.Match(readme, @"<!-- example: run by tests/ConceptSuite.Tests/Gateway/PairedWorkflowTests.cs -->\n```json\n(.*?)```", RegexOptions.Singleline);
        Assert.True(block.Success, "README.md: no paired workflow example after its marker comment");
        var spec = Google.Protobuf.JsonParser.Default.Parse<WorkflowSpec>(block.Groups[1].Value);
        var fit = spec.Steps.Single(s => s.Name == "discover");
        var finished = (await RunAsync(server.Channel, new RunWorkflowRequest { Spec = spec }, TimeSpan.FromSeconds(120))).Last().Finished;
        Assert.True(finished.State == WorkflowState.Succeeded, string.Join("\n", finished.Steps.Select(s => $"{s.Name}: {s.State} {s.Error}")));
        var discover = finished.Steps.Single(s => s.Name == "discover");
        Assert.InRange(discover.Metrics["l0"], 0.5, 8);
        Assert.InRange(discover.Metrics["paired_r2"], -1, 1);
        Assert.True(discover.Metrics["r2"] > 0, $"image-side R² {discover.Metrics["r2"]}");
        Assert.Equal(WorkflowState.Succeeded, finished.Steps.Single(s => s.Name == "encode").State);

        // Without the paired input the stage names the missing field.
        fit.Inputs.Remove("paired");
        spec.Name = "scocca-unpaired";
        var failed = (await RunAsync(server.Channel, new RunWorkflowRequest { Spec = spec }, TimeSpan.FromSeconds(120))).Last().Finished;
        var step = failed.Steps.Single(s => s.Name == "discover");
        Assert.Equal(WorkflowState.Failed, step.State);
        Assert.Contains("config.paired_activations", step.Error);
    }
}
