using ConceptSuite.Contracts;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// DiscoveryService.NameConcepts: fits the image→text bridge on paired rows (image activations,
/// caption embeddings of the same images), maps every dictionary atom into the text space and
/// names it by the nearest vocabulary word (Discover-then-Name, Rao et al. 2024, with a ridge
/// bridge instead of CLIP). The stage stores the names as a "concept-names" artifact (metadata
/// names, similarity, bridge_r2). Options: alternatives (words kept besides the best).
/// </summary>
public sealed class NameConceptsStep : IStepExecutor
{
    public string Method => "discovery.name";
    public string DefaultStage => "discovery";
    public IReadOnlyList<string> Inputs => ["dictionary", "vocabulary", "activations", "captions"];
    public IReadOnlyList<string> Outputs => ["names"];
    public IReadOnlyList<string> Options => ["alternatives", "ridge"];
    public string Description => "Names dictionary atoms by the nearest vocabulary word of their image→text mapped direction (DiscoveryService.NameConcepts).";

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var request = new NameConceptsRequest
        {
            Dictionary = new DictionaryRef { Artifact = new ArtifactRef { Id = ctx.Input("dictionary"), Kind = "dictionary" } },
            Vocabulary = new ArtifactRef { Id = ctx.Input("vocabulary"), Kind = "activations" },
            BridgePairs = new BridgePairs
            {
                ImageActivations = new ArtifactRef { Id = ctx.Input("activations"), Kind = "activations" },
                CaptionEmbeddings = new ArtifactRef { Id = ctx.Input("captions"), Kind = "activations" },
                Ridge = ctx.Real("ridge", 0, 0),
            },
            Alternatives = (int)ctx.Int("alternatives", 4, 0, 100),
        };
        var r = await new DiscoveryService.DiscoveryServiceClient(ctx.Channel).NameConceptsAsync(request, cancellationToken: ctx.CancellationToken);
        var sims = r.Concepts.Select(c => (double)c.Similarity).ToList();
        return new StepResult(new Dictionary<string, ArtifactRef> { ["names"] = r.Names },
            new Dictionary<string, double>
            {
                ["concepts"] = r.Concepts.Count,
                ["distinct_names"] = r.Concepts.Select(c => c.Name).Distinct(StringComparer.Ordinal).Count(),
                ["similarity_mean"] = sims.Count > 0 ? sims.Average() : 0,
                ["bridge_r2"] = r.BridgeR2,
            });
    }
}
