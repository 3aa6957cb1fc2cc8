using ConceptSuite.Contracts;
using ConceptSuite.Core.Methods;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Explain.Importance;
using ConceptSuite.Tests.Infrastructure;
using Grpc.Core;
using TorchSharp;
using static ConceptSuite.Tests.Explain.ExplainFixtures;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Tests.Explain;

/// <summary>
/// A new importance estimator is one small class (below) plus one registry line: it then appears
/// in the explain stage's ListMethods with its option schema and runs through ConceptImportance.
/// </summary>
public sealed class MethodRegistrationTests
{
    /// <summary>φ_nk = scale · w_{t_n,k} · u_nk: a linear head's contributions, scaled (a test estimator).</summary>
    sealed class WeightTimesCoefficient(double scale) : IConceptImportance
    {
        public Tensor Explain(IConceptHead head, Tensor coefficients, long[] targets)
        {
            var u = ImportanceEstimators.Check(head, coefficients, targets);
            var w = ((LinearConceptHead)head).Weight.index_select(0, torch.tensor(targets));
            return scale * w * u;
        }
    }

    static MethodRegistrationTests() =>
        ImportanceEstimators.Family.Register(new("weight_times_coefficient", "(a test estimator)", "Scaled contributions of a linear head",
            [OptionSpec.Float("scale", 1.0, "factor applied to every contribution", -100, 100)],
            o => new WeightTimesCoefficient(o.Float("scale"))));

    [Fact]
    public async Task ARegisteredEstimatorIsListedWithItsSchemaAndRunsThroughConceptImportance()
    {
        await using var server = await SuiteTestServer.StartAsync("explain");
        var client = new ExplainService.ExplainServiceClient(server.Channel);
        var listed = await client.ListMethodsAsync(new ListMethodsRequest { Family = "importance" });
        var family = Assert.Single(listed.Families);
        Assert.Equal("explain", family.Stage);
        Assert.Contains("sobol", family.Methods.Select(m => m.Name));
        var method = Assert.Single(family.Methods, m => m.Name == "weight_times_coefficient");
        var scale = Assert.Single(method.Options);
        Assert.Equal(("scale", "float", "1", "-100", "100"), (scale.Name, scale.Type, scale.DefaultValue, scale.Min, scale.Max));

        // u = [[1, 2], [3, 4]], W = [[1, 0], [0.5, -1]], targets [1, 0], scale 2:
        // φ₀ = 2·[0.5, −1]·[1, 2] = [1, −4]; φ₁ = 2·[1, 0]·[3, 4] = [6, 0].
        var u = torch.tensor(new double[] { 1, 2, 3, 4 }, [2, 2]);
        var w = torch.tensor(new double[] { 1, 0, 0.5, -1 }, [2, 2]);
        var config = new ConceptImportanceConfig { Importance = new() { Method = "weight_times_coefficient", Options = { ["scale"] = "2" } } };
        using var call = client.ConceptImportance();
        await SendAsync(call.RequestStream, new ConceptImportanceRequest { Config = config }, b => new ConceptImportanceRequest { Block = b },
            ("coefficients", u), ("targets", torch.tensor(new long[] { 1, 0 })), ("head_weight", w));
        var phi = (await TensorStreams.AssembleAsync(TensorStreams.ReadAll(call.ResponseStream))).Tensor;
        Assert.Equal(new float[] { 1, -4, 6, 0 }, phi.data<float>().ToArray());

        var bad = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var c2 = client.ConceptImportance();
            config.Importance.Options["scale"] = "1000";
            await SendAsync(c2.RequestStream, new ConceptImportanceRequest { Config = config }, b => new ConceptImportanceRequest { Block = b },
                ("coefficients", u), ("targets", torch.tensor(new long[] { 1, 0 })), ("head_weight", w));
            await TensorStreams.AssembleAsync(TensorStreams.ReadAll(c2.ResponseStream));
        });
        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
        Assert.StartsWith("config.importance.options.scale:", bad.Status.Detail);
    }
}
