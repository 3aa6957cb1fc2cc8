using ConceptSuite.Core.Methods;

namespace ConceptSuite.Explain.Representations;

/// <summary>
/// The similarity indices (family "similarity"): a new index is one file and one line here. The
/// request's seed reaches the options through <see cref="RequestSeed"/>.
/// </summary>
public static class RepresentationSimilarities
{
    public static readonly MethodFamily<IRepresentationSimilarity> Family = new("similarity", ExplainStage.Name,
        "Similarity index between two representations of the same samples", "config.similarities",
    [
        new("linear_cka", "Kornblith et al. 2019, Similarity of Neural Network Representations Revisited",
            "Centred kernel alignment of linear kernels", [], _ => new LinearCka()),
        new("rbf_cka", "Kornblith et al. 2019, Similarity of Neural Network Representations Revisited",
            "Centred kernel alignment of Gaussian kernels", RbfCkaOptions.Schema, o => new RbfCka(RbfCkaOptions.From(o))),
        new("debiased_cka", "Song et al. 2012 (unbiased HSIC); Nguyen, Raghu and Kornblith 2021",
            "Linear CKA with the unbiased HSIC estimator", [], _ => new DebiasedCka()),
        new("minibatch_cka", "Nguyen, Raghu and Kornblith 2021, Do Wide and Deep Networks Learn the Same Things?",
            "Linear CKA accumulated over minibatches of shuffled rows", MinibatchCkaOptions.Schema, o => new MinibatchCka(MinibatchCkaOptions.From(o))),
        new("svcca", "Raghu et al. 2017, SVCCA", "Mean canonical correlation of the top singular directions",
            SvccaOptions.Schema, o => new Svcca(SvccaOptions.From(o))),
        new("pwcca", "Morcos, Raghu and Bengio 2018, Insights on representational similarity",
            "Projection-weighted canonical correlation (weights by the first side)", [], _ => new Pwcca()),
    ]);
}
