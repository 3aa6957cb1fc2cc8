using ConceptSuite.Core.Methods;

namespace ConceptSuite.Explain.Metrics;

/// <summary>
/// The fidelity and trust metrics (family "metric"). They are not chosen by name: Fidelity
/// computes deletion/insertion, MuFidelity and sparsity, plus completeness and seed stability when
/// their tensors are sent; ConceptTrust computes global importance, existence and, with masks,
/// location. Each option is the config field of the same name, whose zero value takes the default.
/// </summary>
public static class ExplanationMetrics
{
    public static readonly MethodFamily<MetricOptions> Family = new("metric", ExplainStage.Name,
        "Fidelity and trust metrics of a concept explanation (computed by Fidelity and ConceptTrust)", "fixed: every metric the request's tensors allow",
    [
        new("deletion_insertion", "Fel et al. 2023 (C-Deletion / C-Insertion), after Petsiuk et al. 2018",
            "Normalised target score as the most important concepts are removed / restored, and the curves' areas", [], _ => MetricOptions.None),
        new("mu_fidelity", "Bhatt, Weller and Moura 2020, Evaluating and Aggregating Feature-based Model Explanations",
            "Correlation between subset attributions and score drops", MuFidelityOptions.Schema, MuFidelityOptions.From),
        new("sparsity", "Hoyer 2004", "Mean non-zeros (L0) and Hoyer measure of the coefficients", [], _ => MetricOptions.None),
        new("completeness", "Yeh et al. 2020, On Completeness-aware Concept-Based Explanations",
            "Share of the model's accuracy above chance recovered through the concepts", CompletenessOptions.Schema, CompletenessOptions.From),
        new("seed_stability", "Fel et al. 2023, §4", "Mean Hungarian-matched cosine between the concept banks of two seeds", [], _ => MetricOptions.None),
        new("global_importance", "Aysel, Cai and Prügel-Bennett 2025, Concept-Based XAI: Metrics and Benchmarks",
            "Per-class mean importance, each row normalised to Σ|GI| = 1", GlobalImportanceOptions.Schema, GlobalImportanceOptions.From),
        new("existence", "Aysel, Cai and Prügel-Bennett 2025", "Share of the top-k concepts that are present",
            TopConceptOptions.Schema, TopConceptOptions.From),
        new("location", "Aysel, Cai and Prügel-Bennett 2025", "Share of the concept maps' mass inside the ground-truth masks",
            LocationOptions.Schema, LocationOptions.From),
    ]);
}
