using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Data;
using static ConceptSuite.Tests.Gateway.GatewayHarness;

namespace ConceptSuite.Tests.Gateway;

public sealed class DatasetImportTests
{
    [Fact]
    public async Task ImportedDatasetIsTheArtifactCoreWouldStore()
    {
        await using var server = await StartAsync();
        var spec = new WorkflowSpec { Name = "import" };
        var s = Step("shapes", "dataset.import");
        s.Options["source"] = "concept-shapes"; s.Options["limit"] = "50"; s.Options["seed"] = "3";
        var f = Step("fmnist", "dataset.import");
        f.Options["source"] = "fashion-mnist:test"; f.Options["limit"] = "300";
        var small = Step("small", "dataset.import");
        small.Options["source"] = "concept-shapes"; small.Options["limit"] = "20"; small.Options["seed"] = "3"; small.Options["source_options"] = "size=16";
        spec.Steps.Add([s, f, small]);
        var end = (await RunAsync(server.Channel, new RunWorkflowRequest { Spec = spec })).Last().Finished;
        Assert.True(end.State == WorkflowState.Succeeded, end.Error);
        Assert.Equal(50, end.Steps[0].Metrics["rows"]);
        Assert.Equal(300, end.Steps[1].Metrics["rows"]);
        Assert.Equal(10, end.Steps[1].Metrics["classes"]);

        // The embedding stage stores the same content as Core's own ImageDataset.SaveAsync: same id.
        var local = new ArtifactStore(Path.Combine(server.DataDir, "check"));
        using (var d = ConceptShapes.Generate(50, 3))
            Assert.Equal((await d.SaveAsync(local)).Ref.Id, end.Steps[0].Outputs["dataset"].Id);
        using (var d = FashionMnist.Load("test", 300))
            Assert.Equal((await d.SaveAsync(local)).Ref.Id, end.Steps[1].Outputs["dataset"].Id);
        // The source's own options travel in the import header and are checked by the stage.
        using (var d = ConceptShapes.Generate(20, 3, new ConceptShapesOptions { Size = 16 }))
            Assert.Equal((await d.SaveAsync(local)).Ref.Id, end.Steps[2].Outputs["dataset"].Id);

        var bad = new WorkflowSpec { Name = "bad" };
        var b = Step("x", "dataset.import");
        b.Options["source"] = "imagenet";
        var failed = (await RunAsync(server.Channel, new RunWorkflowRequest { Spec = bad.Steps.Count == 0 ? Add(bad, b) : bad })).Last().Finished;
        Assert.Equal(WorkflowState.Failed, failed.State);
        Assert.Contains("steps.x.options.source", failed.Error);

        var tooSmall = new WorkflowSpec { Name = "bad-size" };
        var t = Step("y", "dataset.import");
        t.Options["source"] = "concept-shapes"; t.Options["limit"] = "5"; t.Options["source_options"] = "size=4";
        tooSmall.Steps.Add(t);
        var refused = (await RunAsync(server.Channel, new RunWorkflowRequest { Spec = tooSmall })).Last().Finished;
        Assert.Equal(WorkflowState.Failed, refused.State);
        Assert.Contains("steps.y.options.source_options", refused.Error);
        Assert.Contains("header.options.size", refused.Error);
    }

    static WorkflowSpec Add(WorkflowSpec w, WorkflowStep s) { w.Steps.Add(s); return w; }
}
