using ConceptSuite.Contracts;
using Grpc.Core;
using static ConceptSuite.Tests.Gateway.GatewayHarness;

namespace ConceptSuite.Tests.Gateway;

public sealed class StepMethodTests
{
    [Fact]
    public async Task GatewayListMethodsListsItsStepsAndTheFamiliesOfEveryStage()
    {
        await using var server = await StartAsync();
        var client = new GatewayService.GatewayServiceClient(server.Channel);
        var all = await client.ListMethodsAsync(new ListMethodsRequest());
        var families = all.Families.Select(f => (f.Stage, f.Name)).ToList();
        Assert.Contains(("gateway", "workflow_step"), families);
        Assert.Contains(("discovery", "dictionary"), families);
        Assert.Equal(families.Count, families.Distinct().Count());

        // Each step method carries its schema and, as traits, where it runs and what it takes and gives.
        var steps = all.Families.Single(f => f.Name == "workflow_step");
        Assert.Equal("WorkflowStep.method", steps.SelectedBy);
        var fit = steps.Methods.Single(m => m.Name == "discovery.fit");
        Assert.Equal("discovery", fit.Traits["stage"]);
        Assert.Equal("activations", fit.Traits["inputs"]);
        Assert.Equal("validation,paired", fit.Traits["optional_inputs"]);
        Assert.Equal("dictionary", fit.Traits["outputs"]);
        var concepts = fit.Options.Single(o => o.Name == "concepts");
        Assert.Equal(("int", "64", "1"), (concepts.Type, concepts.DefaultValue, concepts.Min));
        Assert.Contains(steps.Methods, m => m.Name == "atlas.render" && m.Traits["outputs"] == "atlas");

        // A named family is found wherever it lives; an unknown one is refused with the known ones.
        var one = await client.ListMethodsAsync(new ListMethodsRequest { Family = "dictionary" });
        Assert.Equal("discovery", Assert.Single(one.Families).Stage);
        var e = await Assert.ThrowsAsync<RpcException>(async () => await client.ListMethodsAsync(new ListMethodsRequest { Family = "nope" }));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("workflow_step", e.Status.Detail);
    }

    [Fact]
    public async Task StepOptionsAreCheckedAgainstTheSchemaBeforeTheWorkflowRuns()
    {
        await using var server = await StartAsync();
        async Task<RpcException> Refused(params (string Name, string Value)[] options)
        {
            var spec = new WorkflowSpec { Name = "options" };
            var s = Step("examples", "discovery.top-examples", "", ("dictionary", new string('a', 64)), ("activations", new string('b', 64)));
            foreach (var (k, v) in options) s.Options[k] = v;
            spec.Steps.Add(s);
            return await Assert.ThrowsAsync<RpcException>(() => RunAsync(server.Channel, new RunWorkflowRequest { Spec = spec }));
        }

        var e = await Refused(("k", "0"));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("spec.steps[0].options.k", e.Status.Detail);
        Assert.Contains(">= 1", e.Status.Detail);
        e = await Refused(("k", "many"));
        Assert.Contains("must be an integer", e.Status.Detail);
        e = await Refused(("top", "3"));
        Assert.Contains("spec.steps[0].options.top", e.Status.Detail);
        Assert.Contains("unknown option; this method has: k", e.Status.Detail);
    }
}
