using ConceptSuite.Core.Methods;

namespace ConceptSuite.Bottleneck.Methods;

/// <summary>
/// Every bottleneck model type by name (the "bottleneck_model" family, selected by
/// <c>config.model_type</c>). The trait "requires" names the block a type cannot train without
/// ("concept_labels" or "concept_bank").
/// </summary>
public static class BottleneckMethods
{
    /// <summary>The trait naming the training block a type needs.</summary>
    public const string Requires = "requires";

    public static readonly MethodFamily<IBottleneckMethod> Family = new("bottleneck_model", BottleneckStage.Name,
        "Interpretable classifiers x → concept scores → logits, stored as \"bottleneck\" artifacts", "config.model_type",
    [
        new(LinearProbe.TypeName, "Alain & Bengio 2016, Understanding intermediate layers using linear classifier probes",
            "Linear probe on standardized features: logits = x̃Wᵀ + b, min CE + λ(α‖W‖₁ + (1−α)/2‖W‖²). The baseline every report shows.",
            LinearProbeOptions.Schema, o => new LinearProbe(LinearProbeOptions.From(o))),
        new(ConceptBottleneckModel.TypeName, "Koh et al. 2020, Concept Bottleneck Models (ICML)",
            "Concept bottleneck: c = σ(x̃W_cᵀ + b_c) supervised by concept labels (BCE), logits = cW_hᵀ + b_h (CE); training independent | sequential | joint (CE + λ_c·BCE).",
            ConceptBottleneckModelOptions.Schema, o => new ConceptBottleneckModel(ConceptBottleneckModelOptions.From(o)), Needs("concept_labels")),
        new(PosthocCbm.TypeName, "Yuksekgonul, Wang & Zou 2023, Post-hoc Concept Bottleneck Models (ICLR)",
            "Post-hoc CBM: concept scores = signed distances (w_k·x + b_k)/‖w_k‖ to a bank of CAV hyperplanes (or given directions), sparse elastic-net head on the standardized scores.",
            PosthocCbmOptions.Schema, o => new PosthocCbm(PosthocCbmOptions.From(o))),
        new(PosthocCbmHybrid.TypeName, "Yuksekgonul, Wang & Zou 2023, Post-hoc Concept Bottleneck Models (ICLR)",
            "PCBM-h: PCBM plus a residual linear layer r(x) = xW_rᵀ + b_r fitted after the sparse head (CE on PCBM logits + r(x), ℓ2 λ_r).",
            PosthocCbmHybridOptions.Schema, o => new PosthocCbmHybrid(PosthocCbmHybridOptions.From(o))),
        new(SparseConceptProbe.TypeName, "Rao et al. 2024, Discover-then-Name: Task-Agnostic Concept Bottlenecks via Automated Concept Discovery (ECCV)",
            "Sparse linear probe on concept activations (features, or projections on a concept_bank of dictionary atoms): elastic-net path over λ, keeping the best model with ≤ max_concepts_per_class non-zero weights per class.",
            SparseConceptProbeOptions.Schema, o => new SparseConceptProbe(SparseConceptProbeOptions.From(o))),
        new(SparseCbm.TypeName, "Semenov et al. 2024, Sparse Concept Bottleneck Models: Gumbel Tricks in Contrastive Learning",
            "Sparse-CBM: concept bottleneck layer trained with an l1 | contrastive | gumbel (Gumbel-softmax) objective, then frozen; final layer by cross-entropy.",
            SparseCbmOptions.Schema, o => new SparseCbm(SparseCbmOptions.From(o))),
        new(ConceptMatrixSearch.TypeName, "Semenov et al. 2024, Sparse Concept Bottleneck Models: Gumbel Tricks in Contrastive Learning",
            "Concept Matrix Search (training-free): cosine between the input's concept profile xT̂ᵀ and each class row of M (class text embeddings × concepts, or class-mean profiles).",
            ConceptMatrixSearchOptions.Schema, o => new ConceptMatrixSearch(ConceptMatrixSearchOptions.From(o)), Needs("concept_bank")),
        new(GrassmannClassRepresentation.TypeName, "Wang, Li & Zhang 2023, Get the Best of Both Worlds: Improving Accuracy and Transferability by Grassmann Class Representation (ICCV)",
            "Grassmann class representation on a frozen concept layer (the features, or a CBM concept predictor): class j is the span of orthonormal S_j [K, r], logit_j = s·‖S_jᵀz‖ + b_j on the ℓ2-normalized head input, trained by Riemannian SGD (tangent projection, momentum transported by projection, QR retraction).",
            GrassmannOptions.Schema, o => new GrassmannClassRepresentation(GrassmannOptions.From(o))),
        new(EnergyConceptBottleneck.TypeName, "Xu, Qin, Xu, Huang & Wang 2024, Energy-Based Concept Bottleneck Models: Unifying Prediction, Concept Intervention, and Probabilistic Interpretations (ICLR)",
            "ECBM: concept energy E_concept(x, c) (per-concept embeddings v_k± mixed by c_k), class energy E_class(x, y) and global energy E_global(c, y), each trained as a Boltzmann negative log-likelihood; inference minimizes λ_c E_concept + λ_g E_global + E_class over relaxed concepts (a fixed number of gradient steps), intervention fixes the given concepts and re-minimizes the rest.",
            EnergyOptions.Schema, o => new EnergyConceptBottleneck(EnergyOptions.From(o)), Needs("concept_labels")),
    ]);

    static Dictionary<string, string> Needs(string block) => new() { [Requires] = block };
}
