using ConceptSuite.Contracts;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// EmbeddingService.TrainBackbone: trains one of the stage's built-in networks ("cnn": the small
/// LeCun-style CNN with taps features/conv1/conv2/logits; "vit") on a dataset artifact and
/// stores it as a "backbone" artifact, which an embedding.embed step serves through its
/// "backbone" input (model "backbone:&lt;id&gt;"). Options: architecture (default cnn), epochs
/// (default 2), batch_size, learning_rate, seed, limit. Metrics: loss, train_accuracy.
/// </summary>
public sealed class TrainBackboneStep : IStepExecutor
{
    public string Method => "embedding.train-backbone";
    public string DefaultStage => "embedding";
    public IReadOnlyList<string> Inputs => ["dataset"];
    public IReadOnlyList<string> Outputs => ["backbone"];
    public IReadOnlyList<string> Options => ["architecture", "epochs", "batch_size", "learning_rate", "seed", "limit"];
    public string Description => "Trains a built-in backbone (cnn, vit) on a dataset (EmbeddingService.TrainBackbone).";

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var request = new TrainBackboneRequest
        {
            Dataset = new ArtifactRef { Id = ctx.Input("dataset") },
            Architecture = ctx.Option("architecture", "cnn"),
            Epochs = (int)ctx.Int("epochs", 2, 1, 1000),
            BatchSize = (int)ctx.Int("batch_size", 0, 0, 4096),
            LearningRate = ctx.Real("learning_rate", 0, 0),
            Seed = ctx.Int("seed", 0),
            Limit = ctx.Int("limit", 0, 0),
        };
        using var call = new EmbeddingService.EmbeddingServiceClient(ctx.Channel).TrainBackbone(request, cancellationToken: ctx.CancellationToken);
        var r = await JobEvents.ResultAsync(call.ResponseStream, ctx);
        return JobEvents.AsStep(r, "backbone", new Dictionary<string, double> { ["epochs"] = request.Epochs });
    }
}
