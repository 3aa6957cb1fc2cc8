using ConceptSuite.Contracts;
using ConceptSuite.Tests.Infrastructure;
using Grpc.Core;

namespace ConceptSuite.Tests.Generate;

/// <summary>
/// One in-process server running the generate stage, with one small generator trained through
/// the TrainGenerator RPC (8×8 colour-only concept shapes, 40 steps): enough for every RPC to run
/// on real weights; quality is asserted in <see cref="GeneratorQualityTests"/>.
/// </summary>
public sealed class GenerateServerFixture : IAsyncLifetime
{
    public SuiteTestServer Server { get; private set; } = null!;
    public GenerateService.GenerateServiceClient Client { get; private set; } = null!;
    public List<JobEvent> TrainEvents { get; } = new();
    public string GeneratorId { get; private set; } = "";

    public static TrainGeneratorRequest TrainRequest(string key) => new()
    {
        Job = new JobOptions { JobKey = key },
        Preset = "tiny",
        ImageSize = 8,
        Steps = 40,
        BatchSize = 16,
        Data = new ShapeDataSpec
        {
            Samples = 128, Seed = 1, Shapes = { "square" }, Sizes = { "large" }, Textures = { "solid" }, Backgrounds = { "plain" }, Positions = { "left" },
        },
        Seed = 1,
    };

    public async Task InitializeAsync()
    {
        // One intra-op thread (see TinyColourGenerator).
        Server = await SuiteTestServer.StartAsync("generate", null, ("ConceptSuite:TorchThreads", "1"));
        Client = new GenerateService.GenerateServiceClient(Server.Channel);
        using var call = Client.TrainGenerator(TrainRequest("fixture-train"));
        await foreach (var e in call.ResponseStream.ReadAllAsync()) TrainEvents.Add(e);
        GeneratorId = TrainEvents.Last().Result.Artifact.Ref.Id;
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}
