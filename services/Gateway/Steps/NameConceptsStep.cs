using ConceptSuite.Contracts;
using ConceptSuite.Core.Methods;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// DiscoveryService.NameConcepts on paired rows (image activations, caption embeddings of the same
/// images): each concept's text direction is the covariance of its code with the caption
/// embeddings, named by the nearest vocabulary word and, when the vocabulary carries WordNet
/// definitions, the nearest definition (Discover-then-Name, Rao et al. 2024, with the captions
/// standing in for CLIP's image–text alignment); the ridge image→text bridge is fitted and stored
/// beside them. The stage stores the names as a "concept-names" artifact (metadata names,
/// similarity, alternatives, glosses, bridge_r2). Options: alternatives (words kept besides the best).
/// </summary>
public sealed class NameConceptsStep(NameConceptsStep.Options options) : IStepExecutor
{
    /// <summary>The step's options, parsed once against <see cref="Schema"/>.</summary>
    public sealed record Options(int Alternatives, double Ridge)
    {
        public static readonly IReadOnlyList<OptionSpec> Schema =
        [
            OptionSpec.Int("alternatives", 4, "words kept besides the best", 0, 100),
            OptionSpec.Float("ridge", 0, "ridge penalty of the image→text bridge (0: the stage's default)", 0),
        ];

        public static Options From(OptionValues o) => new(o.Int("alternatives"), o.Float("ridge"));
    }

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
                Ridge = options.Ridge,
            },
            Alternatives = options.Alternatives,
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
