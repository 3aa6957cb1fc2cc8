using System.CommandLine;

namespace ConceptSuite.Cli.Commands;

/// <summary>Options every command shares, and the exit codes.</summary>
public static class CliOptions
{
    public static readonly Option<string?> Gateway = new("--gateway", "-g")
    {
        Description = "Gateway address (http://host:port or dns:///host:port). Without it, an embedded server runs in this process over --data-dir.",
        Recursive = true,
    };

    public static readonly Option<string?> ApiKey = new("--api-key")
    {
        Description = "API key sent as x-api-key (default: $CONCEPTSUITE_API_KEY).",
        Recursive = true,
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("CONCEPTSUITE_API_KEY"),
    };

    public static readonly Option<string> DataDir = new("--data-dir", "-d")
    {
        Description = "Data directory of the embedded server (artifacts, workflow database).",
        Recursive = true,
        DefaultValueFactory = _ => "data",
    };
}

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
