namespace ConceptSuite.Discovery;

/// <summary>Stage options, section "ConceptSuite:Discovery".</summary>
public sealed class DiscoveryOptions
{
    public const string Section = "ConceptSuite:Discovery";

    /// <summary>Samples the fit metrics are computed on when the request says 0.</summary>
    public long EvalSamples { get; set; } = 262_144;

    /// <summary>Checkpoint period of a fit job when the request says 0, seconds.</summary>
    public int CheckpointSeconds { get; set; } = 60;

    /// <summary>Most dictionaries one Fit may train.</summary>
    public int MaxDictionariesPerFit { get; set; } = 32;
}
