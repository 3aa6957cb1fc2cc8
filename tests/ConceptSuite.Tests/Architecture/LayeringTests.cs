using System.Reflection;
using System.Xml.Linq;
using ConceptSuite.Tests.Deploy;

namespace ConceptSuite.Tests.Architecture;

public sealed class LayeringTests
{
    /// <summary>Every suite assembly next to the tests (the test project references the Server, the client and the CLI, which pull in every unit).</summary>
    static Dictionary<string, Assembly> SuiteAssemblies()
    {
        var found = new Dictionary<string, Assembly>();
        foreach (var file in Directory.EnumerateFiles(AppContext.BaseDirectory, "*.dll"))
        {
            var name = Path.GetFileNameWithoutExtension(file);
            if (LayeringRules.Unit(name) is { } unit) found[unit] = Assembly.Load(new AssemblyName(name));
        }
        return found;
    }

    [Fact]
    public void EveryAssemblyReferencesOnlyWhatItsLayerAllows()
    {
        var assemblies = SuiteAssemblies();
        Assert.Equal(LayeringRules.Units.Order(), assemblies.Keys.Order());
        var edges = assemblies.SelectMany(a => a.Value.GetReferencedAssemblies()
            .Select(r => LayeringRules.Unit(r.Name ?? "")).OfType<string>().Select(to => (a.Key, to)));
        var violations = LayeringRules.Violations(edges);
        Assert.True(violations.Count == 0, "forbidden references:\n" + string.Join("\n", violations));
    }

    [Fact]
    public void ProjectReferencesAgreeWithTheLayering()
    {
        var root = DeployAssets.RepoRoot;
        var projects = Directory.EnumerateFiles(Path.Combine(root, "services"), "*.csproj", SearchOption.AllDirectories)
            .Concat(Directory.EnumerateFiles(Path.Combine(root, "clients"), "*.csproj", SearchOption.AllDirectories))
            .Concat(Directory.EnumerateFiles(Path.Combine(root, "protos"), "*.csproj", SearchOption.AllDirectories))
            .Where(p => !p.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !p.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .ToList();
        static string UnitOf(string csproj) => Path.GetFileNameWithoutExtension(csproj);
        Assert.Equal(LayeringRules.Units.Order(), projects.Select(UnitOf).Order());
        var edges = new List<(string, string)>();
        foreach (var p in projects)
            foreach (var r in XDocument.Load(p).Descendants().Where(e => e.Name.LocalName == "ProjectReference"))
                edges.Add((UnitOf(p), UnitOf(r.Attribute("Include")!.Value.Replace('\\', '/'))));
        Assert.NotEmpty(edges);
        var violations = LayeringRules.Violations(edges);
        Assert.True(violations.Count == 0, "forbidden project references:\n" + string.Join("\n", violations));
    }

    [Fact]
    public void TheCheckerNamesEachForbiddenEdgeWithItsReason()
    {
        var violations = LayeringRules.Violations([
            ("ConceptSuite.Gateway", "ConceptSuite.Discovery"),      // forbidden: a stage in process
            ("ConceptSuite.Gateway", "ConceptSuite.Client"),
            ("ConceptSuite.Discovery", "ConceptSuite.Core"),
            ("ConceptSuite.Explain", "ConceptSuite.Bottleneck"),     // forbidden: stage to stage
            ("ConceptSuite.Client", "ConceptSuite.Core"),            // forbidden: the client is contract only
            ("ConceptSuite.Cli", "ConceptSuite.Gateway"),            // forbidden: CLI into gateway internals
            ("ConceptSuite.Cli", "ConceptSuite.Server"),
            ("ConceptSuite.Server", "ConceptSuite.Gateway"),
            ("ConceptSuite.Server", "ConceptSuite.Cli"),             // forbidden: nothing references the CLI
            ("ConceptSuite.Contracts", "ConceptSuite.Core"),         // forbidden: the contract depends on nothing
            ("ConceptSuite.Plugins", "ConceptSuite.Core"),           // forbidden: a unit without a rule
        ]);
        Assert.Equal(
        [
            "ConceptSuite.Cli -> ConceptSuite.Gateway: the CLI talks through the .NET client and embeds only the Server's hosting entry point",
            "ConceptSuite.Client -> ConceptSuite.Core: the .NET client depends on the contract only",
            "ConceptSuite.Contracts -> ConceptSuite.Core: the contract depends on nothing",
            "ConceptSuite.Explain -> ConceptSuite.Bottleneck: a stage depends on Core and the contract only; stages meet through the contract and artifacts",
            "ConceptSuite.Gateway -> ConceptSuite.Discovery: a gateway reaches stages only through their contracts",
            "ConceptSuite.Plugins -> ConceptSuite.Core: no layering rule covers this unit; add it to LayeringRules",
            "ConceptSuite.Server -> ConceptSuite.Cli: nothing references the CLI",
        ], violations);
    }
}
