using ConceptSuite.Contracts;
using ConceptSuite.Tests.Infrastructure;
using Grpc.Core;

namespace ConceptSuite.Tests.Embedding;

/// <summary>The stage's method families (dataset_source: ImportDataset's built-in sources; backbone: what TrainBackbone trains) and ListMethods.</summary>
public class DatasetSourceTests
{
    static Task<ArtifactInfo> Import(EmbeddingService.EmbeddingServiceClient client, ImportDatasetHeader header) => EmbedClient.ImportAsync(client, header);

    /// <summary>The import fails with <paramref name="code"/>, its detail naming <paramref name="detail"/>.</summary>
    static async Task Rejects(EmbeddingService.EmbeddingServiceClient client, ImportDatasetHeader header, StatusCode code, string detail)
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => Import(client, header));
        Assert.Equal(code, e.StatusCode);
        Assert.Contains(detail, e.Status.Detail);
    }

    [Fact]
    public async Task ListMethodsDescribesTheDatasetSourcesAndTheBackbones()
    {
        await using var server = await SuiteTestServer.StartAsync("embedding");
        var client = new EmbeddingService.EmbeddingServiceClient(server.Channel);
        var family = Assert.Single((await client.ListMethodsAsync(new ListMethodsRequest { Family = "dataset_source" })).Families);
        Assert.Equal("embedding", family.Stage);
        Assert.Equal(["mnist", "fashion-mnist", "concept-shapes", "artifact", "wordnet-glosses"], family.Methods.Select(m => m.Name));
        var id = family.Methods.Single(m => m.Name == "artifact").Options.Select(o => o.Name);
        Assert.Equal(["id", "split", "test_fraction"], id);
        var parts = family.Methods.Single(m => m.Name == "wordnet-glosses").Options.Single(o => o.Name == "parts");
        Assert.Equal(["both", "definitions", "examples"], parts.Choices);
        var split = family.Methods.Single(m => m.Name == "fashion-mnist").Options.Single(o => o.Name == "split");
        Assert.Equal(["train", "test"], split.Choices);
        var size = family.Methods.Single(m => m.Name == "concept-shapes").Options.Single(o => o.Name == "size");
        Assert.Equal(("int", "32", "8", "256"), (size.Type, size.DefaultValue, size.Min, size.Max));
        Assert.All(family.Methods, m => Assert.False(string.IsNullOrEmpty(m.Paper)));

        var all = (await client.ListMethodsAsync(new ListMethodsRequest())).Families;
        Assert.Equal(["dataset_source", "backbone"], all.Select(f => f.Name));
        Assert.Equal(["cnn", "vit"], all.Single(f => f.Name == "backbone").Methods.Select(m => m.Name));
        var missing = await Assert.ThrowsAsync<RpcException>(() => client.ListMethodsAsync(new ListMethodsRequest { Family = "dictionary" }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, missing.StatusCode);
    }

    [Fact]
    public async Task HeaderOptionsReachTheSourceAndAreCheckedAgainstItsSchema()
    {
        await using var server = await SuiteTestServer.StartAsync("embedding");
        var client = new EmbeddingService.EmbeddingServiceClient(server.Channel);

        var shapes = await Import(client, new ImportDatasetHeader { Source = "concept-shapes", Limit = 6, Seed = 4, Options = { ["size"] = "24" } });
        Assert.Equal([6L, 3, 24, 24], shapes.Tensors.Single(t => t.Name == "images").Shape);
        var defaults = await Import(client, new ImportDatasetHeader { Source = "concept-shapes", Limit = 6, Seed = 4 });
        Assert.Equal([6L, 3, 32, 32], defaults.Tensors.Single(t => t.Name == "images").Shape);
        // The options given explicitly as their defaults are the same rows as no options.
        var explicitDefaults = await Import(client, new ImportDatasetHeader
        {
            Source = "concept-shapes", Limit = 6, Seed = 4, Options = { ["size"] = "32", ["spurious"] = "0", ["label_factor"] = "shape", ["colour_jitter"] = "20" },
        });
        Assert.Equal(defaults.Ref.Id, explicitDefaults.Ref.Id);

        await Rejects(client, new() { Source = "concept-shapes", Limit = 6, Options = { ["colour"] = "red" } }, StatusCode.InvalidArgument, "header.options.colour");
        await Rejects(client, new() { Source = "concept-shapes", Limit = 6, Options = { ["size"] = "4" } }, StatusCode.InvalidArgument, "header.options.size");
        await Rejects(client, new() { Source = "concept-shapes" }, StatusCode.InvalidArgument, "header.limit");
        // An unknown split is an unknown source; the known names are listed.
        await Rejects(client, new() { Source = "fashion-mnist:validation" }, StatusCode.NotFound, "fashion-mnist:test");
        await Rejects(client, new() { Source = "fashion-mnist:test", Limit = 2, Options = { ["split"] = "train" } }, StatusCode.InvalidArgument, "header.options.split");
        await Rejects(client, new() { Name = "rows", Options = { ["size"] = "24" } }, StatusCode.InvalidArgument, "header.options");
    }

    [Fact]
    public async Task FashionMnistSplitComesFromTheSourceSuffixOrTheSplitOption()
    {
        await using var server = await SuiteTestServer.StartAsync("embedding");
        var client = new EmbeddingService.EmbeddingServiceClient(server.Channel);
        var suffix = await Import(client, new ImportDatasetHeader { Source = "fashion-mnist:test", Limit = 3 });
        var option = await Import(client, new ImportDatasetHeader { Source = "fashion-mnist", Limit = 3, Options = { ["split"] = "test" } });
        var train = await Import(client, new ImportDatasetHeader { Source = "fashion-mnist:train", Limit = 3 });
        Assert.Equal(suffix.Ref.Id, option.Ref.Id);
        Assert.NotEqual(suffix.Ref.Id, train.Ref.Id);
        Assert.Contains("fashion-mnist-test", suffix.MetadataJson);
    }
}
