namespace ConceptSuite.Generate;

/// <summary>Options of the generate stage (section "ConceptSuite:Generate").</summary>
public sealed class GenerateOptions
{
    public const string Section = "ConceptSuite:Generate";
    /// <summary>Prompts per Generate call.</summary>
    public int MaxPrompts { get; set; } = 256;
    /// <summary>DDIM steps when a request leaves them at 0.</summary>
    public int DefaultSteps { get; set; } = 50;
    /// <summary>Guidance scale when a request leaves it at 0.</summary>
    public double DefaultGuidance { get; set; } = 3.0;
    /// <summary>Seconds between training checkpoints when the job does not say.</summary>
    public int CheckpointSeconds { get; set; } = 30;
    /// <summary>Training images at most.</summary>
    public int MaxTrainingSamples { get; set; } = 200_000;

    /// <summary>The bounds checked at start-up: sampling defaults a request could also ask for, positive limits.</summary>
    public bool IsValid => MaxPrompts >= 1 && DefaultSteps is >= 1 and <= 1000 && DefaultGuidance is >= 0 and <= 20
        && CheckpointSeconds >= 1 && MaxTrainingSamples >= 16;
}
