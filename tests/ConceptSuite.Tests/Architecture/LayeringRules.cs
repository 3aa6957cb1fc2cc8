namespace ConceptSuite.Tests.Architecture;

/// <summary>
/// What may depend on what (DESIGN.md, "Layering"): Contracts ← Core ← each stage; a stage never
/// references another stage, the Gateway, the Server or a client; the Gateway references Core,
/// the contract and the .NET client only; the .NET client the contract only; the CLI the .NET
/// client (and, for its embedded mode, the Server's hosting entry point); the Server anything but
/// the CLI. Units are named as their projects (ConceptSuite.X); <see cref="Unit"/> maps the two
/// executables' assembly names to them.
/// </summary>
public static class LayeringRules
{
    public const string Contracts = "ConceptSuite.Contracts", Core = "ConceptSuite.Core", Gateway = "ConceptSuite.Gateway",
        Client = "ConceptSuite.Client", Cli = "ConceptSuite.Cli", Server = "ConceptSuite.Server";

    public static readonly string[] Stages =
        ["ConceptSuite.Embedding", "ConceptSuite.Discovery", "ConceptSuite.Bottleneck", "ConceptSuite.Explain", "ConceptSuite.Generate"];

    /// <summary>Every unit the suite consists of.</summary>
    public static IEnumerable<string> Units => new[] { Contracts, Core, Gateway, Client, Cli, Server }.Concat(Stages);

    /// <summary>The unit of an assembly name (the executables are named for their command line), or null for a foreign assembly.</summary>
    public static string? Unit(string assemblyName) => assemblyName switch
    {
        "concept" => Cli,
        "conceptsuite-server" => Server,
        _ when assemblyName.StartsWith("ConceptSuite.", StringComparison.Ordinal) && !assemblyName.StartsWith("ConceptSuite.Tests", StringComparison.Ordinal) => assemblyName,
        _ => null,
    };

    /// <summary>The units <paramref name="from"/> may reference, and why that is all (null: any unit but the CLI).</summary>
    static (string[]? Allowed, string Why) Rule(string from) => from switch
    {
        Contracts => ([], "the contract depends on nothing"),
        Core => ([Contracts], "Core depends on the contract only"),
        Gateway => ([Core, Contracts, Client], "a gateway reaches stages only through their contracts"),
        Client => ([Contracts], "the .NET client depends on the contract only"),
        Cli => ([Client, Contracts, Server], "the CLI talks through the .NET client and embeds only the Server's hosting entry point"),
        Server => (null, "nothing references the CLI"),
        _ when Stages.Contains(from) => ([Core, Contracts], "a stage depends on Core and the contract only; stages meet through the contract and artifacts"),
        _ => ([], "no layering rule covers this unit; add it to LayeringRules"),
    };

    /// <summary>Each forbidden edge of <paramref name="edges"/> as "FROM -> TO: why" (empty: the layering holds).</summary>
    public static List<string> Violations(IEnumerable<(string From, string To)> edges)
    {
        var found = new List<string>();
        foreach (var (from, to) in edges.Distinct().OrderBy(e => e.From, StringComparer.Ordinal).ThenBy(e => e.To, StringComparer.Ordinal))
        {
            if (from == to) continue;
            var (allowed, why) = Rule(from);
            bool ok = allowed is null ? to != Cli : allowed.Contains(to);
            if (!ok) found.Add($"{from} -> {to}: {why}");
        }
        return found;
    }
}
