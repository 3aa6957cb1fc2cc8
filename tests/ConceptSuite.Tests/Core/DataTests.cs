using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Data;
using TorchSharp;

namespace ConceptSuite.Tests.Core;

public class DataTests
{
    [Fact]
    public void FashionMnistLoadsRealTrainAndTestSplits()
    {
        using var test = FashionMnist.Load("test");
        Assert.Equal(new long[] { 10000, 1, 28, 28 }, test.Images.shape);
        Assert.Equal(10000, test.Labels.shape[0]);
        // The test split is balanced: 1000 images per class.
        var counts = torch.bincount(test.Labels).data<long>().ToArray();
        Assert.All(counts, c => Assert.Equal(1000, c));
        using var train = FashionMnist.Load("train", limit: 1000);
        Assert.Equal(1000, train.Count);
        // Mean pixel of Fashion-MNIST's training images is 72.94 (0.2860 × 255).
        Assert.InRange(train.Images.to(torch.float32).mean().item<float>(), 68f, 78f);
    }

    [Fact]
    public void FashionMnistRejectsUnknownSplit()
    {
        var e = Assert.Throws<ConceptSuite.Contracts.InvalidInputException>(() => FashionMnist.Load("validation"));
        Assert.Equal("split", e.Field);
    }

    [Fact]
    public void ConceptShapesIsDeterministicBySeed()
    {
        using var a = ConceptShapes.Generate(20, seed: 7);
        using var b = ConceptShapes.Generate(20, seed: 7);
        using var c = ConceptShapes.Generate(20, seed: 8);
        Assert.True(a.Images.eq(b.Images).all().item<bool>());
        Assert.False(a.Images.eq(c.Images).all().item<bool>());
        Assert.Equal(a.Captions, b.Captions);
    }

    [Fact]
    public void ConceptShapesLabelsMasksAndCaptionsAgree()
    {
        using var d = ConceptShapes.Generate(50, seed: 1, new ConceptShapesOptions { Size = 32 });
        Assert.Equal(new long[] { 50, 3, 32, 32 }, d.Images.shape);
        Assert.Equal(new long[] { 50, 16, 32, 32 }, d.ConceptMasks!.shape);
        // Exactly one concept per factor: six concepts present per image.
        Assert.All(d.ConceptLabels!.sum(1).data<float>().ToArray(), s => Assert.Equal(6f, s));
        var labels = d.ConceptLabels.data<float>().ToArray();
        var maskArea = d.ConceptMasks.to(torch.float32).sum([2, 3]).data<float>().ToArray();
        for (int n = 0; n < 50; n++)
        {
            var f = ConceptShapes.FactorsOf(labels.AsSpan(n * 16, 16));
            Assert.Equal(ConceptShapes.Caption(f), d.Captions![n]);
            Assert.Equal(f.Shape, (int)d.Labels[n].item<long>());
            for (int k = 0; k < 16; k++)
            {
                // A mask is non-empty exactly where the concept is present.
                Assert.Equal(labels[n * 16 + k] > 0.5f, maskArea[n * 16 + k] > 0);
            }
            // Shape mask and background mask partition the image.
            var shapeArea = maskArea[n * 16 + ConceptShapes.ShapeOffset + f.Shape];
            var backgroundArea = maskArea[n * 16 + ConceptShapes.BackgroundOffset + f.Background];
            Assert.Equal(32 * 32, shapeArea + backgroundArea);
            // Large shapes cover more pixels than the largest small shape (r = 0.16·32 → ≤ 4·5.12² ≈ 105).
            if (f.Size == 1) Assert.True(shapeArea > 105, $"large shape area {shapeArea}");
        }
    }

    [Fact]
    public void ConceptShapesSpuriousBackgroundTracksTheClass()
    {
        using var d = ConceptShapes.Generate(300, seed: 3, new ConceptShapesOptions { SpuriousBackground = 1.0 });
        var labels = d.ConceptLabels!.data<float>().ToArray();
        for (int n = 0; n < 300; n++)
        {
            var f = ConceptShapes.FactorsOf(labels.AsSpan(n * 16, 16));
            Assert.Equal(f.Shape % 3, f.Background);
        }
    }

    [Fact]
    public async Task DatasetRoundTripsThroughTheArtifactStore()
    {
        var dir = Path.Combine(Path.GetTempPath(), "cs-data-" + Guid.NewGuid().ToString("N"));
        try
        {
            var store = new ArtifactStore(dir);
            using var d = ConceptShapes.Generate(10, seed: 5, new ConceptShapesOptions { Size = 16 });
            var info = await d.SaveAsync(store);
            using var reader = store.Open(info.Ref.Id);
            using var back = ImageDataset.Load(reader);
            Assert.True(back.Images.eq(d.Images).all().item<bool>());
            Assert.True(back.ConceptMasks!.eq(d.ConceptMasks!).all().item<bool>());
            Assert.Equal(d.ConceptNames, back.ConceptNames);
            Assert.Equal(d.Captions, back.Captions);
            Assert.Equal(info.Ref.Id, (await d.SaveAsync(store)).Ref.Id);
        }
        finally { Directory.Delete(dir, true); }
    }
}
