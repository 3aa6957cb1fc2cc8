using ConceptSuite.Core.Hosting;
using ConceptSuite.Core.Security;
using ConceptSuite.Server;
using ConceptSuite.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using YamlDotNet.RepresentationModel;

namespace ConceptSuite.Tests.Deploy;

/// <summary>
/// The deployment files (deploy/, docker-compose.yml), the tools that check them offline
/// (kubectl kustomize, docker-compose config), and the server's own names they must agree with.
/// </summary>
public static class DeployAssets
{
    /// <summary>Every stage the suite defines (--stages value → its gRPC service). The manifests cover all of them.</summary>
    public static readonly IReadOnlyDictionary<string, string> SuiteStages = new Dictionary<string, string>
    {
        ["embedding"] = "conceptsuite.v1.EmbeddingService",
        ["discovery"] = "conceptsuite.v1.DiscoveryService",
        ["bottleneck"] = "conceptsuite.v1.BottleneckService",
        ["explain"] = "conceptsuite.v1.ExplainService",
        ["generate"] = "conceptsuite.v1.GenerateService",
        ["gateway"] = "conceptsuite.v1.GatewayService",
    };

    /// <summary>Stages that do tensor work and get a GPU where one is offered.</summary>
    public static readonly IReadOnlyList<string> GpuStages = ["embedding", "discovery", "bottleneck", "explain", "generate"];

    /// <summary>The suite's stages plus any the server's catalog has beyond them.</summary>
    public static IReadOnlyList<string> AllStages =>
        SuiteStages.Keys.Union(StageCatalog.All.Select(s => s.Name)).ToList();

    /// <summary>The stages this build of the server can run (--stages accepts only these).</summary>
    public static IReadOnlySet<string> CatalogStages => StageCatalog.All.Select(s => s.Name).ToHashSet();

    /// <summary>The Prometheus series the autoscalers read: the in-flight instrument's name as the exporter writes it.</summary>
    public static string InFlightSeries
    {
        get { using var m = new SuiteMetrics(); return m.InFlight.Name.Replace('.', '_'); }
    }

    public static string RepoRoot { get; } = FindRoot();

    static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Suite.sln"))) return d.FullName;
        throw new InvalidOperationException($"no Suite.sln above {AppContext.BaseDirectory}");
    }

    /// <summary>Runs a tool to completion in the checkout (<see cref="ExternalTool"/>).</summary>
    public static (int Code, string Out, string Err) Run(string file, IEnumerable<string> args, string? cwd = null, int timeoutS = 60) =>
        ExternalTool.Run(file, args, cwd ?? RepoRoot, timeoutS);

    /// <summary><c>kubectl kustomize deploy/k8s/overlays/{overlay}</c>, parsed into one mapping per resource.</summary>
    public static IReadOnlyList<YamlMappingNode> RenderOverlay(string overlay)
    {
        var (code, output, err) = Run("kubectl", ["kustomize", Path.Combine("deploy", "k8s", "overlays", overlay)]);
        Assert.True(code == 0, $"kubectl kustomize {overlay} failed ({code}): {err}");
        return ParseDocuments(output);
    }

    public static IReadOnlyList<YamlMappingNode> ParseDocuments(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return stream.Documents.Select(d => d.RootNode).OfType<YamlMappingNode>().ToList();
    }

    /// <summary>The node at a path of mapping keys (string) and sequence indexes (int); null when absent.</summary>
    public static YamlNode? At(this YamlNode? node, params object[] path)
    {
        foreach (var step in path)
        {
            node = (node, step) switch
            {
                (YamlMappingNode m, string key) => m.Children.TryGetValue(new YamlScalarNode(key), out var v) ? v : null,
                (YamlSequenceNode s, int i) => i < s.Children.Count ? s.Children[i] : null,
                _ => null,
            };
            if (node is null) return null;
        }
        return node;
    }

    public static string? Str(this YamlNode? node, params object[] path) => (node.At(path) as YamlScalarNode)?.Value;

    public static IReadOnlyList<YamlNode> Seq(this YamlNode? node, params object[] path) =>
        node.At(path) is YamlSequenceNode s ? s.Children.ToList() : [];

    public static IReadOnlyDictionary<string, string?> Map(this YamlNode? node, params object[] path) =>
        node.At(path) is YamlMappingNode m
            ? m.Children.ToDictionary(kv => ((YamlScalarNode)kv.Key).Value!, kv => (kv.Value as YamlScalarNode)?.Value)
            : new Dictionary<string, string?>();

    /// <summary>
    /// Checks environment-style settings (ConceptSuite__Listen__Grpc=...) against the server's
    /// option classes: every key must bind to a property of SuiteOptions, ListenOptions,
    /// SecurityOptions or the gateway's StageApiKey / StageTls (binding fails on unknown keys, so a
    /// renamed option breaks this), or be a gateway endpoint of a known stage. Returns the bound options.
    /// </summary>
    public static (SuiteOptions Suite, ListenOptions Listen, IReadOnlyDictionary<string, string> Endpoints, SecurityOptions Security, ConceptSuite.Gateway.GatewayOptions Gateway)
        BindServerSettings(IReadOnlyDictionary<string, string?> env)
    {
        var suite = new Dictionary<string, string?>();
        var listen = new Dictionary<string, string?>();
        var security = new Dictionary<string, string?>();
        var gateway = new Dictionary<string, string?>();
        var endpoints = new Dictionary<string, string>();
        string listenSection = SuiteOptions.Section + ":Listen";
        string endpointSection = SuiteOptions.Section + ":Gateway:Endpoints";
        foreach (var (rawKey, value) in env)
        {
            var key = rawKey.Replace("__", ":");
            if (key.StartsWith(listenSection + ":", StringComparison.Ordinal)) listen[key] = value;
            else if (key.StartsWith(SecurityOptions.Section + ":", StringComparison.Ordinal)) security[key] = value;
            else if (key is "ConceptSuite:Gateway:StageApiKey" or "ConceptSuite:Gateway:StageTls") gateway[key] = value;
            else if (key.StartsWith(endpointSection + ":", StringComparison.Ordinal))
            {
                var stage = key[(endpointSection.Length + 1)..];
                Assert.True(AllStages.Contains(stage), $"{rawKey}: '{stage}' is not a stage ({string.Join(", ", AllStages)})");
                endpoints[stage] = value ?? "";
            }
            else if (key.StartsWith(SuiteOptions.Section + ":", StringComparison.Ordinal) && key.Count(c => c == ':') == 1) suite[key] = value;
            else Assert.Fail($"{rawKey} is not a setting of the server (SuiteOptions, ListenOptions, SecurityOptions or the gateway's)");
        }
        static T Bind<T>(Dictionary<string, string?> values, string section) where T : new()
        {
            var config = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
            var o = new T();
            config.GetSection(section).Bind(o, b => b.ErrorOnUnknownConfiguration = true);
            return o;
        }
        return (Bind<SuiteOptions>(suite, SuiteOptions.Section), Bind<ListenOptions>(listen, listenSection), endpoints,
            Bind<SecurityOptions>(security, SecurityOptions.Section), Bind<ConceptSuite.Gateway.GatewayOptions>(gateway, ConceptSuite.Gateway.GatewayOptions.Section));
    }
}
