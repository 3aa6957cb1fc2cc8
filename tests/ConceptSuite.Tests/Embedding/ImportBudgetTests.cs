using ConceptSuite.Contracts;
using ConceptSuite.Core.Data;
using ConceptSuite.Embedding.Images;
using ConceptSuite.Tests.Infrastructure;
using Google.Protobuf;
using Grpc.Core;
using TorchSharp;

namespace ConceptSuite.Tests.Embedding;

public class ImportBudgetTests
{
    static ImportDatasetRequest Png(long label)
    {
        using var pixels = torch.zeros([1, 4, 4], torch.ScalarType.Byte);
        return new ImportDatasetRequest { Image = new LabelledImage { Image = new EncodedImage { Data = ByteString.CopyFrom(ImageCodec.EncodePng(pixels)) }, Label = label } };
    }

    static async Task<RpcException> ImportFails(EmbeddingService.EmbeddingServiceClient client, ImportDatasetHeader header, params ImportDatasetRequest[] rows) =>
        await Assert.ThrowsAsync<RpcException>(() => EmbedClient.ImportAsync(client, header, rows));

    [Fact]
    public async Task Import_headers_labels_counts_and_generated_sizes_beyond_their_limits_are_refused_naming_the_field_and_the_limit()
    {
        await using var server = await SuiteTestServer.StartAsync("embedding", null, ("ConceptSuite:MaxCallBytes", (256L << 20).ToString()),
            ("ConceptSuite:MaxDecodedImages", "3"), ("ConceptSuite:MaxClasses", "1000"));
        var client = new EmbeddingService.EmbeddingServiceClient(server.Channel);

        var e = await ImportFails(client, new ImportDatasetHeader { Name = "big", Channels = 1, Height = 1 << 20, Width = 1 << 20 }, Png(0));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("header.height", e.Status.Detail);
        Assert.Contains("4096", e.Status.Detail);

        e = await ImportFails(client, new ImportDatasetHeader { Name = "label", Channels = 1 }, Png(0), Png(1L << 31));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("images[1].label", e.Status.Detail);
        Assert.Contains("class limit 1000", e.Status.Detail);

        e = await ImportFails(client, new ImportDatasetHeader { Name = "many", Channels = 1 }, Png(0), Png(1), Png(0), Png(1));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("more than 3 encoded images", e.Status.Detail);

        // 7000 scenes of 256²: 9.2 GB of pixels and masks (and, before, an int overflow in the mask size).
        e = await ImportFails(client, new ImportDatasetHeader { Source = "concept-shapes", Limit = 7000, Options = { ["size"] = "256" } });
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("header.limit", e.Status.Detail);
        Assert.Contains((256L << 20).ToString(), e.Status.Detail);

        var ok = await EmbedClient.ImportAsync(client, new ImportDatasetHeader { Name = "ok", Channels = 1 }, Png(0), Png(999), Png(3));
        Assert.False(string.IsNullOrEmpty(ok.Ref.Id));
    }

    [Fact]
    public void Concept_shapes_refuses_a_count_whose_masks_exceed_the_largest_array_instead_of_overflowing()
    {
        var e = Assert.Throws<InvalidInputException>(() => ConceptShapes.Generate(7000, 0, new ConceptShapesOptions { Size = 256 }));
        Assert.Equal("count", e.Field);
        Assert.Contains("largest array", e.Message);
        Assert.Equal(3L + ConceptShapes.ConceptNames.Count, (ConceptShapes.BytesPerRow(16) - 4L * ConceptShapes.ConceptNames.Count - 8) / 256);
    }
}
