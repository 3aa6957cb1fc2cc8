using ConceptSuite.Bottleneck;
using ConceptSuite.Discovery;
using ConceptSuite.Embedding;
using ConceptSuite.Explain;
using ConceptSuite.Gateway;
using ConceptSuite.Generate;
using Microsoft.AspNetCore.Routing;

namespace ConceptSuite.Server;

/// <summary>
/// The stages this binary can run, by the name used in --stages, and their registration pairs.
/// A new stage is one line here.
/// </summary>
public static class StageCatalog
{
    public sealed record Stage(string Name, Action<IServiceCollection> Add, Action<IEndpointRouteBuilder> Map);

    public static readonly IReadOnlyList<Stage> All =
    [
        new("embedding", s => s.AddEmbeddingStage(), e => e.MapEmbeddingStage()),
        new("discovery", s => s.AddDiscoveryStage(), e => e.MapDiscoveryStage()),
        new("bottleneck", s => s.AddBottleneckStage(), e => e.MapBottleneckStage()),
        new("explain", s => s.AddExplainStage(), e => e.MapExplainStage()),
        new("gateway", s => s.AddGatewayStage(), e => e.MapGatewayStage()),
        new("generate", s => s.AddGenerateStage(), e => e.MapGenerateStage()),
    ];

    /// <summary>Resolves "all", "core" or a comma list; unknown names fail with the list of known ones.</summary>
    public static IReadOnlyList<Stage> Resolve(string? spec)
    {
        var s = string.IsNullOrWhiteSpace(spec) ? "all" : spec.Trim();
        if (s == "all") return All;
        // Core only: health, reflection, tensor transport and the artifact store.
        if (s == "core") return [];
        var chosen = new List<Stage>();
        foreach (var raw in s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var name = raw.ToLowerInvariant();
            var stage = All.FirstOrDefault(x => x.Name == name)
                ?? throw new ArgumentException($"--stages: unknown stage '{raw}'; this build has: {(All.Count == 0 ? "(none yet)" : string.Join(", ", All.Select(x => x.Name)))}, or 'all'");
            if (!chosen.Contains(stage)) chosen.Add(stage);
        }
        return chosen;
    }
}
