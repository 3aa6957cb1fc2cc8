using ConceptSuite.Contracts;

namespace ConceptSuite.Generate.Training;

/// <summary>Optimisation settings of a generator training run.</summary>
public sealed record TrainingOptions
{
    public int Steps { get; init; } = 3000;
    public int BatchSize { get; init; } = 64;
    public double LearningRate { get; init; } = 2e-3;
    /// <summary>Probability that a sample's whole prompt is replaced by the empty prompt (classifier-free guidance).</summary>
    public double ConditionDropout { get; init; } = 0.1;
    /// <summary>Probability that each concept word of a prompt is dropped, so partial prompts ("a square") learn their marginals.</summary>
    public double TokenDropout { get; init; } = 0.2;
    public int Seed { get; init; }

    public void Validate(string field = "training")
    {
        if (Steps is < 1 or > 1_000_000) throw new InvalidInputException($"{field}.steps", "must be in [1, 1000000]");
        if (BatchSize is < 1 or > 4096) throw new InvalidInputException($"{field}.batch_size", "must be in [1, 4096]");
        if (!(LearningRate > 0 && LearningRate <= 1)) throw new InvalidInputException($"{field}.learning_rate", "must be in (0, 1]");
        if (ConditionDropout is < 0 or > 1) throw new InvalidInputException($"{field}.condition_dropout", "must be in [0, 1]");
        if (TokenDropout is < 0 or > 1) throw new InvalidInputException($"{field}.token_dropout", "must be in [0, 1]");
    }
}
