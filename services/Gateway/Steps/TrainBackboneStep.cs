using ConceptSuite.Contracts;
using ConceptSuite.Core.Methods;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// EmbeddingService.TrainBackbone: trains one of the stage's built-in networks ("cnn": the small
/// LeCun-style CNN with taps features/conv1/conv2/logits; "vit") on a dataset artifact and
/// stores it as a "backbone" artifact, which an embedding.embed step serves through its
/// "backbone" input (model "backbone:&lt;id&gt;"). Options: architecture (default cnn), epochs
/// (default 2), batch_size, learning_rate, seed, limit. Metrics: loss, train_accuracy.
/// </summary>
public sealed class TrainBackboneStep(TrainBackboneStep.Options options) : IStepExecutor
{
    /// <summary>The step's options, parsed once against <see cref="Schema"/>.</summary>
    public sealed record Options(string Architecture, int Epochs, int BatchSize, double LearningRate, long Seed, long Limit)
    {
        public static readonly IReadOnlyList<OptionSpec> Schema =
        [
            OptionSpec.Text("architecture", "cnn", "cnn or vit (checked by the stage)"),
            OptionSpec.Int("epochs", 2, "training epochs", 1, 1000),
            OptionSpec.Int("batch_size", 0, "batch size (0: the stage's default)", 0, 4096),
            OptionSpec.Float("learning_rate", 0, "learning rate (0: the stage's default)", 0),
            OptionSpec.Int("seed", 0, "random seed"),
            OptionSpec.Int("limit", 0, "training rows (0: all)", 0),
        ];

        public static Options From(OptionValues o) => new(o.Text("architecture"), o.Int("epochs"), o.Int("batch_size"), o.Float("learning_rate"), o.Long("seed"), o.Long("limit"));
    }

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var request = new TrainBackboneRequest
        {
            Dataset = new ArtifactRef { Id = ctx.Input("dataset") },
            Architecture = options.Architecture,
            Epochs = options.Epochs,
            BatchSize = options.BatchSize,
            LearningRate = options.LearningRate,
            Seed = options.Seed,
            Limit = options.Limit,
        };
        using var call = new EmbeddingService.EmbeddingServiceClient(ctx.Channel).TrainBackbone(request, cancellationToken: ctx.CancellationToken);
        var r = await JobEvents.ResultAsync(call.ResponseStream, ctx);
        return JobEvents.AsStep(r, "backbone", new Dictionary<string, double> { ["epochs"] = request.Epochs });
    }
}
