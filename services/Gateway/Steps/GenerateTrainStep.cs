using System.Text.Json;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Methods;
using Grpc.Core;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// GenerateService.TrainGenerator: trains a text-conditioned concept diffusion generator and its
/// concept classifier on concept images; the result is a "generator" artifact. With the option
/// "generator" (an artifact id) nothing is trained: that stored generator is checked and passed on,
/// so one workflow either trains or loads. Options: preset (tiny | cpu | gpu, default cpu),
/// image_size, base_channels, source (concept-shapes | scenes, default concept-shapes), samples,
/// data_seed, steps, batch_size, learning_rate, seed. Metrics: loss, steps,
/// classifier_accuracy.GROUP (the training metrics stored with a loaded generator).
/// </summary>
public sealed class GenerateTrainStep(GenerateTrainStep.Options options) : IStepExecutor
{
    /// <summary>The step's options, parsed once against <see cref="Schema"/>.</summary>
    public sealed record Options(string Generator, string Preset, int ImageSize, int BaseChannels, string Source, int Samples, int DataSeed, int Steps, int BatchSize, double LearningRate, int Seed)
    {
        public static readonly IReadOnlyList<OptionSpec> Schema =
        [
            OptionSpec.Text("generator", "", "a stored generator artifact id: load it instead of training"),
            OptionSpec.Text("preset", "cpu", "tiny, cpu or gpu (checked by the stage)"),
            OptionSpec.Int("image_size", 0, "image side (0: the preset's)", 0, 256),
            OptionSpec.Int("base_channels", 0, "U-Net base channels (0: the preset's)", 0, 1024),
            OptionSpec.Text("source", "concept-shapes", "training images: concept-shapes or scenes"),
            OptionSpec.Int("samples", 0, "training images (0: the preset's)", 0, int.MaxValue),
            OptionSpec.Int("data_seed", 0, "seed of the generated images", 0, int.MaxValue),
            OptionSpec.Int("steps", 0, "training steps (0: the preset's)", 0, int.MaxValue),
            OptionSpec.Int("batch_size", 0, "batch size (0: the preset's)", 0, 4096),
            OptionSpec.Float("learning_rate", 0, "learning rate (0: the preset's)", 0),
            OptionSpec.Int("seed", 0, "random seed", 0, int.MaxValue),
        ];

        public static Options From(OptionValues o) => new(o.Text("generator"), o.Text("preset"), o.Int("image_size"), o.Int("base_channels"), o.Text("source"), o.Int("samples"), o.Int("data_seed"), o.Int("steps"), o.Int("batch_size"), o.Float("learning_rate"), o.Int("seed"));
    }

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var given = options.Generator;
        if (given.Length > 0) return await LoadAsync(ctx, given);
        var request = new TrainGeneratorRequest
        {
            Preset = options.Preset,
            ImageSize = options.ImageSize,
            BaseChannels = options.BaseChannels,
            Data = new ShapeDataSpec
            {
                Source = options.Source,
                Samples = options.Samples,
                Seed = options.DataSeed,
            },
            Steps = options.Steps,
            BatchSize = options.BatchSize,
            LearningRate = options.LearningRate,
            Seed = options.Seed,
        };
        using var call = new GenerateService.GenerateServiceClient(ctx.Channel).TrainGenerator(request, cancellationToken: ctx.CancellationToken);
        var r = await JobEvents.ResultAsync(call.ResponseStream, ctx);
        return JobEvents.AsStep(r, "generator");
    }

    static async Task<StepResult> LoadAsync(StepContext ctx, string id)
    {
        var field = ctx.OptionField("generator");
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
