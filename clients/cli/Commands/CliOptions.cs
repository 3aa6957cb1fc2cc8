using System.CommandLine;

namespace ConceptSuite.Cli.Commands;

/// <summary>Options every command shares, and the exit codes.</summary>
public static class CliOptions
{
    public static readonly Option<string?> Gateway = new("--gateway", "-g")
    {
        Description = "Gateway address (http://host:port, https://host:port or dns:///host:port). Without it, an embedded server runs in this process over --data-dir.",
        Recursive = true,
    };

    public static readonly Option<string?> ApiKey = new("--api-key")
    {
        Description = "API key sent as x-api-key (default: $CONCEPTSUITE_API_KEY).",
        Recursive = true,
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("CONCEPTSUITE_API_KEY"),
    };

    public static readonly Option<string?> CaBundle = new("--ca-bundle")
    {
        Description = "PEM file of the CAs that signed the gateway's certificate (a private CA); implies TLS, dns:/// addresses included (default: $CONCEPTSUITE_CA_BUNDLE).",
        Recursive = true,
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("CONCEPTSUITE_CA_BUNDLE"),
    };

    public static readonly Option<string> DataDir = new("--data-dir", "-d")
    {
        Description = "Data directory of the embedded server (artifacts, workflow database).",
        Recursive = true,
        DefaultValueFactory = _ => "data",
    };
}
