namespace ConceptSuite.Cli.Commands;

/// <summary>Exit codes a script can act on.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>The workflow ran and failed (a step failed; the message says which and why).</summary>
    public const int WorkflowFailed = 1;
    /// <summary>The request was refused: bad workflow name, parameter or option.</summary>
    public const int BadInput = 2;
    /// <summary>The gateway could not be reached, refused the key, or the embedded server did not start.</summary>
    public const int Unreachable = 3;
    /// <summary>Something asked for does not exist (workflow id, artifact).</summary>
    public const int NotFound = 4;
    /// <summary>Interrupted (Ctrl+C); the workflow is cancelled and can be resumed.</summary>
    public const int Cancelled = 130;
}
