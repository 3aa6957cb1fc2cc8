using System.Text.Json;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using Grpc.Core;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// GenerateService.TrainGenerator: trains a text-conditioned concept diffusion generator and its
/// concept classifier on concept images; the result is a "generator" artifact. With the option
/// "generator" (an artifact id) nothing is trained: that stored generator is checked and passed on,
/// so one workflow either trains or loads. Options: preset (tiny | cpu | gpu, default cpu),
/// image_size, base_channels, source (concept-shapes | scenes, default concept-shapes), samples,
/// data_seed, steps, batch_size, learning_rate, seed. Metrics: loss, train_seconds, steps,
/// classifier_accuracy.GROUP (the training metrics stored with a loaded generator).
/// </summary>
public sealed class GenerateTrainStep : IStepExecutor
{
    public string Method => "generate.train";
    public string DefaultStage => "generate";
    public IReadOnlyList<string> Inputs => [];
    public IReadOnlyList<string> Outputs => ["generator"];
    public IReadOnlyList<string> Options => ["generator", "preset", "image_size", "base_channels", "source", "samples", "data_seed", "steps", "batch_size", "learning_rate", "seed"];
    public string Description => "Trains a concept diffusion generator (GenerateService.TrainGenerator), or loads a stored one (option generator).";

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var given = ctx.Option("generator", "");
        if (given.Length > 0) return await LoadAsync(ctx, given);
        var request = new TrainGeneratorRequest
        {
            Preset = ctx.Option("preset", "cpu"),
            ImageSize = (int)ctx.Int("image_size", 0, 0, 256),
            BaseChannels = (int)ctx.Int("base_channels", 0, 0, 1024),
            Data = new ShapeDataSpec
            {
                Source = ctx.Option("source", "concept-shapes"),
                Samples = (int)ctx.Int("samples", 0, 0, int.MaxValue),
                Seed = (int)ctx.Int("data_seed", 0, 0, int.MaxValue),
            },
            Steps = (int)ctx.Int("steps", 0, 0, int.MaxValue),
            BatchSize = (int)ctx.Int("batch_size", 0, 0, 4096),
            LearningRate = ctx.Real("learning_rate", 0, 0),
            Seed = (int)ctx.Int("seed", 0, 0, int.MaxValue),
        };
        using var call = new GenerateService.GenerateServiceClient(ctx.Channel).TrainGenerator(request, cancellationToken: ctx.CancellationToken);
        var r = await JobEvents.ResultAsync(call.ResponseStream, ctx);
        return JobEvents.AsStep(r, "generator");
    }

    static async Task<StepResult> LoadAsync(StepContext ctx, string id)
    {
        var field = $"steps.{ctx.Step}.options.generator";
        if (!ArtifactId.IsValid(id)) throw new InvalidInputException(field, "must be an artifact id (64 lowercase hex characters)");
        ArtifactInfo info;
        try
        {
            info = await new ArtifactService.ArtifactServiceClient(ctx.StoreChannel)
                .GetArtifactInfoAsync(new GetArtifactInfoRequest { Id = id }, cancellationToken: ctx.CancellationToken);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound) { throw new NotFoundException($"generator ({field})", id); }
        if (info.Ref.Kind != "generator") throw new InvalidInputException(field, $"artifact {id} is a '{info.Ref.Kind}', not a generator");
        var metrics = new Dictionary<string, double> { ["loaded"] = 1 };
        if (info.MetadataJson.Length > 0 && JsonDocument.Parse(info.MetadataJson).RootElement is { ValueKind: JsonValueKind.Object } root
            && root.TryGetProperty("metrics", out var stored) && stored.ValueKind == JsonValueKind.Object)
            foreach (var p in stored.EnumerateObject())
                if (p.Value.ValueKind == JsonValueKind.Number) metrics[p.Name] = p.Value.GetDouble();
        return new StepResult(new Dictionary<string, ArtifactRef> { ["generator"] = info.Ref }, metrics);
    }
}
