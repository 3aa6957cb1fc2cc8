using ConceptSuite.Contracts;
using ConceptSuite.Gateway.Atlas;
using Xunit.Abstractions;
using static ConceptSuite.Tests.Gateway.GatewayHarness;

namespace ConceptSuite.Tests.Gateway;

public sealed class MainJobTests(ITestOutputHelper output)
{
    [Fact]
    public async Task DiscoverNameCbmOnASliceOfFashionMnistGivesSensibleNumbersAndAnAtlas()
    {
        await using var server = await StartAsync();
        var request = new RunWorkflowRequest { Builtin = "discover-name-cbm" };
        request.Parameters["train_rows"] = "120";
        request.Parameters["test_rows"] = "60";
        request.Parameters["concepts"] = "32";
        request.Parameters["sae_options"] = "k=4;epochs=40;batch_size=30";
        request.Parameters["vocabulary_size"] = "300";
        var events = await RunAsync(server.Channel, request, TimeSpan.FromMinutes(5));
        var w = events.Last().Finished;
        foreach (var st in w.Steps)
            output.WriteLine($"{st.Name} {st.State} {(st.Finished.ToDateTime() - st.Started.ToDateTime()).TotalSeconds:0.0}s {string.Join(" ", st.Metrics.Where(kv => !kv.Key.StartsWith("path_")).Select(kv => $"{kv.Key}={kv.Value:0.####}"))} {st.Error}");
        Assert.True(w.State == WorkflowState.Succeeded, w.Error);
        StepInfo S(string name) => w.Steps.Single(s => s.Name == name);

        Assert.Equal(120, S("import-train").Metrics["rows"]);
        Assert.Equal(10, S("import-train").Metrics["classes"]);
        Assert.Equal(120, S("embed-train").Metrics["rows"]);
        Assert.Equal(60, S("embed-test").Metrics["rows"]);
        Assert.Equal(512, S("embed-train").Metrics["dims"]);      // ResNet18 pooled features
        var fit = S("discover").Metrics;
        Assert.InRange(fit["l0"], 1, 4);                            // TopK: at most k active latents per sample
        Assert.InRange(fit["dead_fraction"], 0, 0.5);
        Assert.True(double.IsFinite(fit["mse"]) && fit["mse"] >= 0, $"mse {fit["mse"]}");
        Assert.Equal(32, S("top-examples").Metrics["concepts"]);
        Assert.Contains(events, e => e.StepProgress is { Step: "embed-train" });

        var atlas = await AtlasBuilder.BuildAsync(server.Channel, w);
        Assert.Equal(10, atlas.Samples.Count);
        Assert.NotEmpty(atlas.Concepts);
        Assert.All(atlas.Concepts, c => Assert.InRange(c.TopImages.Count, 1, 6));
        var html = AtlasHtml.Render(atlas);
        int images = atlas.Samples.Sum(x => x.Images.Count) + atlas.Concepts.Sum(c => c.TopImages.Count + (c.ImportancePerClass.Count > 0 ? 1 : 0))
            + (atlas.SparsityPath.Count > 0 ? 1 : 0) + (atlas.FidelityCurves.Count > 0 ? 1 : 0);
        Assert.Equal(images, html.Split("src=\"data:image/png;base64,").Length - 1);
    }
}
