namespace ConceptSuite.Core.Artifacts;

/// <summary>
/// Limits and retention of the artifact store (ConceptSuite:Store). A write that would take the
/// stored and in-flight artifact bytes past <see cref="QuotaBytes"/>, or the file system's free
/// space below <see cref="MinFreeBytes"/>, is RESOURCE_EXHAUSTED and leaves nothing behind.
/// </summary>
public sealed class StoreOptions
{
    public const string Section = "ConceptSuite:Store";

    /// <summary>Most bytes the artifacts may take (committed plus uploads in progress); 0: no quota.</summary>
    public long QuotaBytes { get; set; }

    /// <summary>Free bytes the file system must keep after every write; 0: no floor.</summary>
    public long MinFreeBytes { get; set; } = 256L << 20;

    /// <summary>A temporary upload folder untouched for this long belongs to a process that is gone: swept at start and by each collection.</summary>
    public double TemporaryMaxAgeHours { get; set; } = 6;

    /// <summary>Artifacts younger than this are never collected (a running step's output not yet recorded in its workflow).</summary>
    public double GcMinAgeMinutes { get; set; } = 60;

    /// <summary>A workflow finished longer ago than this no longer keeps its artifacts; 0: workflows keep them for ever.</summary>
    public double WorkflowRetentionDays { get; set; }

    /// <summary>Minutes between collections run by the process that holds the workflows; 0: only on request (CollectGarbage).</summary>
    public double GcIntervalMinutes { get; set; }
}
