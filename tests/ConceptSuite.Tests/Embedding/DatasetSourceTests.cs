using ConceptSuite.Contracts;
using ConceptSuite.Tests.Infrastructure;
using Grpc.Core;

namespace ConceptSuite.Tests.Embedding;

/// <summary>The dataset_source family: ImportDataset's built-in sources, their option schemas and ListMethods.</summary>
public class DatasetSourceTests
{
    static async Task<ArtifactInfo> Import(EmbeddingService.EmbeddingServiceClient client, ImportDatasetHeader header)
    {
        using var call = client.ImportDataset();
        await call.RequestStream.WriteAsync(new ImportDatasetRequest { Header = header });
        await call.RequestStream.CompleteAsync();
        return await call.ResponseAsync;
    }

    [Fact]
    public async Task ListMethodsDescribesTheDatasetSourcesAndTheirOptions()
    {
        await using var server = await SuiteTestServer.StartAsync("embedding");
        var client = new EmbeddingService.EmbeddingServiceClient(server.Channel);
        var family = Assert.Single((await client.ListMethodsAsync(new ListMethodsRequest { Family = "dataset_source" })).Families);
        Assert.Equal("embedding", family.Stage);
        Assert.Equal(["mnist", "fashion-mnist", "concept-shapes"], family.Methods.Select(m => m.Name));
        var split = family.Methods.Single(m => m.Name == "fashion-mnist").Options.Single(o => o.Name == "split");
        Assert.Equal(["train", "test"], split.Choices);
        var size = family.Methods.Single(m => m.Name == "concept-shapes").Options.Single(o => o.Name == "size");
        Assert.Equal(("int", "32", "8", "256"), (size.Type, size.DefaultValue, size.Min, size.Max));
        Assert.All(family.Methods, m => Assert.False(string.IsNullOrEmpty(m.Paper)));
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

        var unknown = await Assert.ThrowsAsync<RpcException>(() => Import(client, new ImportDatasetHeader { Source = "concept-shapes", Limit = 6, Options = { ["colour"] = "red" } }));
        Assert.Equal(StatusCode.InvalidArgument, unknown.StatusCode);
        Assert.Contains("header.options.colour", unknown.Status.Detail);
        var outOfRange = await Assert.ThrowsAsync<RpcException>(() => Import(client, new ImportDatasetHeader { Source = "concept-shapes", Limit = 6, Options = { ["size"] = "4" } }));
        Assert.Equal(StatusCode.InvalidArgument, outOfRange.StatusCode);
        Assert.Contains("header.options.size", outOfRange.Status.Detail);
        var noCount = await Assert.ThrowsAsync<RpcException>(() => Import(client, new ImportDatasetHeader { Source = "concept-shapes" }));
        Assert.Equal(StatusCode.InvalidArgument, noCount.StatusCode);
        Assert.Contains("header.limit", noCount.Status.Detail);
        var badSplit = await Assert.ThrowsAsync<RpcException>(() => Import(client, new ImportDatasetHeader { Source = "fashion-mnist:validation" }));
        Assert.Equal(StatusCode.NotFound, badSplit.StatusCode);
        Assert.Contains("fashion-mnist:test", badSplit.Status.Detail);   // the known names are listed
        var contradiction = await Assert.ThrowsAsync<RpcException>(() => Import(client, new ImportDatasetHeader { Source = "fashion-mnist:test", Limit = 2, Options = { ["split"] = "train" } }));
        Assert.Equal(StatusCode.InvalidArgument, contradiction.StatusCode);
        var rowsWithOptions = await Assert.ThrowsAsync<RpcException>(() => Import(client, new ImportDatasetHeader { Name = "rows", Options = { ["size"] = "24" } }));
        Assert.Equal(StatusCode.InvalidArgument, rowsWithOptions.StatusCode);
        Assert.Contains("header.options", rowsWithOptions.Status.Detail);
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
