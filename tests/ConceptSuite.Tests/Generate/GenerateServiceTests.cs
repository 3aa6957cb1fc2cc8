using ConceptSuite.Contracts;
using ConceptSuite.Generate.Images;
using Grpc.Core;
using TorchSharp;

namespace ConceptSuite.Tests.Generate;

/// <summary>Every GenerateService RPC through the in-process server, with good and bad input.</summary>
public class GenerateServiceTests(GenerateServerFixture fx, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<GenerateServerFixture>
{
    GenerateService.GenerateServiceClient Client => fx.Client;

    static async Task<RpcException> Invalid(Func<Task> call, string field)
    {
        var ex = await Assert.ThrowsAsync<RpcException>(call);
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.StartsWith(field + ":", ex.Status.Detail);
        return ex;
    }

    static async Task<List<T>> All<T>(AsyncServerStreamingCall<T> call)
    {
        var list = new List<T>();
        await foreach (var x in call.ResponseStream.ReadAllAsync()) list.Add(x);
        call.Dispose();
        return list;
    }

    static Contracts.Tensor MaskTensor(int size, Func<int, int, bool> inside)
    {
        var data = new byte[size * size];
        for (int y = 0; y < size; y++) for (int x = 0; x < size; x++) data[y * size + x] = inside(y, x) ? (byte)1 : (byte)0;
        return new Contracts.Tensor { Dtype = DType.Uint8, Shape = { size, size }, Data = Google.Protobuf.ByteString.CopyFrom(data) };
    }

    [Fact]
    public async Task ListMethodsDescribesTheErasersAndTheirOptions()
    {
        var family = Assert.Single((await Client.ListMethodsAsync(new ListMethodsRequest())).Families);
        Assert.Equal(("eraser", "generate", "eraser.method"), (family.Name, family.Stage, family.SelectedBy));
        Assert.Equal(["uce", "realera"], family.Methods.Select(m => m.Name));
        Assert.Equal(["lambda", "erase_scale", "preserve_scale"], family.Methods[0].Options.Select(o => o.Name));
        var radius = Assert.Single(family.Methods[1].Options, o => o.Name == "neighbour_radius");
        Assert.Equal(("float", "0.3", "0", "10"), (radius.Type, radius.DefaultValue, radius.Min, radius.Max));
        await Invalid(() => Client.ListMethodsAsync(new ListMethodsRequest { Family = "sampler" }).ResponseAsync, "family");
    }

    [Fact]
    public void TrainGeneratorStreamsProgressAndEndsWithAGeneratorArtifact()
    {
        Assert.Contains(fx.TrainEvents, e => e.Progress is { Unit: "steps", Done: 40 });
        var result = fx.TrainEvents.Last().Result;
        Assert.Equal("generator", result.Artifact.Ref.Kind);
        Assert.True(double.IsFinite(result.Metrics["loss"]) && result.Metrics["loss"] < 1.0, $"loss {result.Metrics["loss"]}");
        Assert.True(result.Metrics["classifier_accuracy.colour"] > 0.9, $"classifier accuracy {result.Metrics["classifier_accuracy.colour"]}");
        Assert.Contains(result.Artifact.Tensors, t => t.Name.StartsWith("classifier."));
    }

    [Fact]
    public async Task TrainGeneratorTrainsOnFashionMnistWithClassPrompts()
    {
        var req = new TrainGeneratorRequest
        {
            Job = new JobOptions { JobKey = "fashion-train" }, Preset = "tiny", ImageSize = 16, Steps = 10, BatchSize = 8, Seed = 2,
            Data = new ShapeDataSpec { Source = "fashion-mnist", Samples = 256 },
        };
        var result = (await All(Client.TrainGenerator(req))).Last().Result;
        // The judge of class rates: the concept classifier on 500 held-out test images (trained on
        // 256, four epochs, 16×16). Measured 0.652; ten classes, chance 0.1.
        var accuracy = result.Metrics["classifier_accuracy.garment"];
        output.WriteLine($"Fashion-MNIST classifier accuracy {accuracy:F3}");
        Assert.True(accuracy > 0.5, $"classifier accuracy {accuracy:F3}");
        var images = await All(Client.Generate(new GenerateRequest
        {
            Generator = new() { Id = result.Artifact.Ref.Id }, Prompts = { "a photo of a sneaker", "a photo of an ankle-boot" }, Steps = 3, IncludeTensors = true,
        }));
        Assert.Equal(2, images.Count);
        Assert.All(images, i => Assert.Equal(new long[] { 1, 3, 16, 16 }, i.Image.TotalShape.ToArray()));
        var unknown = new GenerateRequest { Generator = new() { Id = result.Artifact.Ref.Id }, Prompts = { "a photo of a red shape" }, Steps = 3 };
        await Invalid(() => All(Client.Generate(unknown)), "prompts[0]");
    }

    [Fact]
    public async Task RerunningAFinishedJobKeyAnswersFromTheStoredResult()
    {
        var events = await All(Client.TrainGenerator(GenerateServerFixture.TrainRequest("fixture-train")));
        Assert.True(events.Last().Result.Cached);
        Assert.Equal(fx.GeneratorId, events.Last().Result.Artifact.Ref.Id);
    }

    [Fact]
    public async Task GenerateStreamsOnePngAndTensorPerPromptDeterministicallyBySeed()
    {
        var req = new GenerateRequest { Generator = new() { Id = fx.GeneratorId }, Prompts = { "a red shape", "a blue shape", "a red shape" }, Seeds = { 7, 8, 7 }, Steps = 5, IncludeTensors = true };
        var images = await All(Client.Generate(req));
        Assert.Equal([0, 1, 2], images.Select(i => i.Index));
        using var png = PngImages.Decode(images[0].Png.ToByteArray());
        Assert.Equal([3L, 8, 8], png.shape);
        Assert.Equal([1L, 3, 8, 8], images[0].Image.Tensor.Shape);
        var pixels = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(images[0].Image.Tensor.Data.Span).ToArray();
        Assert.All(pixels, v => Assert.InRange(v, 0f, 1f));
        Assert.Equal(images[0].Png, images[2].Png); // same prompt and seed, same image
    }

    [Fact]
    public async Task GenerateRejectsBadInputNamingTheField()
    {
        GenerateRequest Req() => new() { Generator = new() { Id = fx.GeneratorId }, Prompts = { "a red shape", "a red shape" }, Steps = 3 };
        var unknown = Req(); unknown.Prompts[1] = "a purple shape";
        await Invalid(() => All(Client.Generate(unknown)), "prompts[1]");
        var tooLong = Req(); tooLong.Prompts[0] = "red green blue yellow red green blue yellow";
        await Invalid(() => All(Client.Generate(tooLong)), "prompts[0]");
        var steps = Req(); steps.Steps = 5000;
        await Invalid(() => All(Client.Generate(steps)), "steps");
        var guidance = Req(); guidance.Guidance = 50;
        await Invalid(() => All(Client.Generate(guidance)), "guidance");
        var seeds = Req(); seeds.Seeds.Add(1);
        await Invalid(() => All(Client.Generate(seeds)), "seeds");
        var missing = Req(); missing.Generator = new() { Id = new string('a', 64) };
        var nf = await Assert.ThrowsAsync<RpcException>(() => All(Client.Generate(missing)));
        Assert.Equal(StatusCode.NotFound, nf.StatusCode);
    }

    [Fact]
    public async Task EraseReturnsANewGeneratorWithTheEfficacyAndDriftReport()
    {
        var events = await All(Client.Erase(new EraseRequest { Generator = new() { Id = fx.GeneratorId }, Concepts = { "red" }, ReportSamples = 4, ReportSteps = 4 }));
        var result = events.Last().Result;
        Assert.Equal("generator", result.Artifact.Ref.Kind);
        Assert.NotEqual(fx.GeneratorId, result.Artifact.Ref.Id);
        foreach (var k in new[] { "erased.red.before", "erased.red.after", "erased.red.neutral", "preserved.green.after", "preserve_drift_max", "preserve_pixel_drift" })
            Assert.True(result.Metrics.ContainsKey(k), k);
        Assert.Contains("\"parent\":\"" + fx.GeneratorId, result.Artifact.MetadataJson);
    }

    [Fact]
    public async Task EraseRejectsUnknownConceptsAndBadTargets()
    {
        await Invalid(() => All(Client.Erase(new EraseRequest { Generator = new() { Id = fx.GeneratorId }, Concepts = { "purple" } })), "concepts[0]");
        await Invalid(() => All(Client.Erase(new EraseRequest { Generator = new() { Id = fx.GeneratorId }, Concepts = { "red" }, Targets = { "red" } })), "targets[0]");
        await Invalid(() => All(Client.Erase(new EraseRequest { Generator = new() { Id = fx.GeneratorId }, Concepts = { "red" }, Eraser = new() { Method = "magic" } })), "eraser.method");
        await Invalid(() => All(Client.Erase(new EraseRequest { Generator = new() { Id = fx.GeneratorId }, Concepts = { "red" }, Eraser = new() { Options = { ["lambda"] = "-1" } } })), "eraser.options.lambda");
    }

    [Fact]
    public async Task ComposeFillsEachMaskAndReportsALayoutCheck()
    {
        var req = new ComposeRequest
        {
            Generator = new() { Id = fx.GeneratorId }, Samples = 2, Steps = 4,
            Regions = { new ConceptRegion { Prompt = "red", Mask = MaskTensor(8, (y, x) => x < 4) }, new ConceptRegion { Prompt = "blue", Mask = MaskTensor(8, (y, x) => x >= 4) } },
        };
        var r = await Client.ComposeAsync(req);
        Assert.Equal(2, r.Images.Count);
        Assert.Equal(2, r.Checks.Count);
        Assert.All(r.Checks, c => Assert.Equal("colour", c.Group));
        Assert.InRange(r.LayoutScore, 0, 1);
    }

    [Fact]
    public async Task ComposeRejectsMasksOfTheWrongSizeOrOverlapping()
    {
        var wrong = new ComposeRequest { Generator = new() { Id = fx.GeneratorId }, Regions = { new ConceptRegion { Prompt = "red", Mask = MaskTensor(16, (y, x) => x < 4) } } };
        await Invalid(() => Client.ComposeAsync(wrong).ResponseAsync, "regions[0].mask");
        var overlap = new ComposeRequest
        {
            Generator = new() { Id = fx.GeneratorId },
            Regions = { new ConceptRegion { Prompt = "red", Mask = MaskTensor(8, (y, x) => x < 5) }, new ConceptRegion { Prompt = "blue", Mask = MaskTensor(8, (y, x) => x >= 4) } },
        };
        await Invalid(() => Client.ComposeAsync(overlap).ResponseAsync, "regions[1].mask");
        var empty = new ComposeRequest { Generator = new() { Id = fx.GeneratorId }, Regions = { new ConceptRegion { Prompt = "red", Mask = MaskTensor(8, (y, x) => false) } } };
        await Invalid(() => Client.ComposeAsync(empty).ResponseAsync, "regions[0].mask");
    }

    [Fact]
    public async Task SteerReportsTheClassifierScoreBeforeAndAfter()
    {
        var r = await Client.SteerAsync(new SteerRequest { Generator = new() { Id = fx.GeneratorId }, Prompts = { "a shape" }, Concept = "green", Strength = 2, Samples = 4, Steps = 4 });
        Assert.InRange(r.ScoreBefore, 0, 1);
        Assert.InRange(r.ScoreAfter, 0, 1);
        await Invalid(() => Client.SteerAsync(new SteerRequest { Generator = new() { Id = fx.GeneratorId }, Prompts = { "a shape" }, Concept = "green", Strength = 99 }).ResponseAsync, "strength");
        await Invalid(() => Client.SteerAsync(new SteerRequest { Generator = new() { Id = fx.GeneratorId }, Prompts = { "a shape" }, Concept = "mauve" }).ResponseAsync, "concept");
    }

    [Fact]
    public async Task ExtractConceptsLocatesAndLearnsOneTokenPerConcept()
    {
        var image = new Contracts.Tensor { Dtype = DType.Uint8, Shape = { 3, 8, 8 } };
        var px = new byte[3 * 64];
        for (int i = 0; i < 64; i++) { bool inside = i / 8 is >= 2 and < 6 && i % 8 is >= 2 and < 6; px[i] = inside ? (byte)224 : (byte)115; px[64 + i] = inside ? (byte)36 : (byte)115; px[128 + i] = inside ? (byte)31 : (byte)115; }
        image.Data = Google.Protobuf.ByteString.CopyFrom(px);
        var r = await Client.ExtractConceptsAsync(new ExtractConceptsRequest { Generator = new() { Id = fx.GeneratorId }, Image = image, NumConcepts = 2, TokenSteps = 5, Samples = 2, Steps = 4 });
        Assert.Equal(2, r.Concepts.Count);
        Assert.All(r.Concepts, c => Assert.Equal([8L, 8], c.Mask.Shape));
        Assert.Equal(64, r.Concepts.Sum(c => c.Mask.Data.Count(b => b == 1))); // the clusters partition the image
        Assert.All(r.Concepts, c => Assert.Equal(2, c.Regenerations.Count));
        await Invalid(() => Client.ExtractConceptsAsync(new ExtractConceptsRequest { Generator = new() { Id = fx.GeneratorId }, Image = image, NumConcepts = 9 }).ResponseAsync, "num_concepts");
    }

    [Fact]
    public async Task EvaluateReportsARatePerRequestedColour()
    {
        var r = await Client.EvaluateAsync(new EvaluateRequest { Generator = new() { Id = fx.GeneratorId }, SamplesPerPrompt = 2, Steps = 4 });
        Assert.Equal(["red", "green", "blue", "yellow"], r.Concepts.Where(c => c.Group == "colour").Select(c => c.Concept));
        Assert.All(r.Concepts, c => Assert.Equal(0.25, c.Chance, 6));
        await Invalid(() => Client.EvaluateAsync(new EvaluateRequest { Generator = new() { Id = fx.GeneratorId }, Prompts = { "a mauve shape" } }).ResponseAsync, "prompts[0]");
    }

    [Fact]
    public async Task TrainGeneratorRejectsBadConfiguration()
    {
        var req = GenerateServerFixture.TrainRequest("bad");
        req.Preset = "huge";
        await Invalid(() => All(Client.TrainGenerator(req)), "config.preset");
        req = GenerateServerFixture.TrainRequest("bad"); req.Data.Colours.Add("mauve");
        await Invalid(() => All(Client.TrainGenerator(req)), "data.colours");
        req = GenerateServerFixture.TrainRequest("bad"); req.ImageSize = 9;
        await Invalid(() => All(Client.TrainGenerator(req)), "config.image_size");
        req = GenerateServerFixture.TrainRequest("bad"); req.Data.Source = "scenes";
        await Invalid(() => All(Client.TrainGenerator(req)), "data.source");
        req = GenerateServerFixture.TrainRequest("bad"); req.Data.Source = "fashion-mnist";
        await Invalid(() => All(Client.TrainGenerator(req)), "data.source");
        req = GenerateServerFixture.TrainRequest("bad"); req.Data.Colours.Add("red");
        req.Data.Colours.Add("red");
        await Invalid(() => All(Client.TrainGenerator(req)), "data.colours");
    }
}
