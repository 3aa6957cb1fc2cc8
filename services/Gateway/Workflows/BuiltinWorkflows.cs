using ConceptSuite.Contracts;

namespace ConceptSuite.Gateway.Workflows;

/// <summary>
/// The built-in workflows as step lists. Each is data, not code: the same list a caller could
/// send as RunWorkflowRequest.spec. Parameters with defaults are listed in the spec.
/// </summary>
public static class BuiltinWorkflows
{
    static readonly Dictionary<string, Func<WorkflowSpec>> Specs = new(StringComparer.Ordinal)
    {
        ["discover-name-cbm"] = DiscoverNameCbm,
        ["craft-explain"] = CraftExplain,
        ["compare-models"] = CompareModels,
        ["erase-concept"] = EraseConcept,
        ["text-features"] = TextFeatures,
        ["concept-shapes-trust"] = ConceptShapesTrust,
    };

    /// <summary>
    /// Discover-then-Name with concept bottlenecks on Fashion-MNIST: backbone activations → TopK
    /// sparse autoencoder dictionary (R², L0) → top examples per concept → names from a WordNet
    /// vocabulary through an image→caption bridge → codes of train and test → a plain linear
    /// probe (the baseline), a sparse probe on the SAE codes (≤ max_concepts_per_class concepts per
    /// class along an elastic-net path) and PCBM-h on the dictionary atoms, all scored on the
    /// test rows → class importance, prevalence, reliability and cluster graph of the sparse
    /// probe's concepts → fidelity and completeness against the probe → the summary report → the
    /// concept atlas (an "atlas" artifact).
    /// </summary>
    static WorkflowSpec DiscoverNameCbm() => Spec("discover-name-cbm",
        [("dataset", "fashion-mnist"), ("dataset_options", ""), ("train_rows", "2000"), ("test_rows", "500"), ("model", "resnet18"), ("concepts", "128"), ("sae_options", "k=32;epochs=60;batch_size=128"),
         ("seed", "0"), ("vocabulary_size", "1000"), ("sparse_options", "max_concepts_per_class=8"), ("pcbm_options", ""), ("importance", "gradient_input")],
        [ImportData("import-train", "train", "$params.train_rows"),
        ImportData("import-test", "test", "$params.test_rows"),
        Step("embed-train", "embedding.embed", [("dataset", "$steps.import-train.dataset")], [("model", "$params.model")]),
        Step("embed-test", "embedding.embed", [("dataset", "$steps.import-test.dataset")], [("model", "$params.model")]),
        .. DiscoverThenName("topk_sae", "$params.sae_options"),
        Step("probe", "bottleneck.train", [("features", "$steps.embed-train.activations"), ("eval", "$steps.embed-test.activations")],
            [("model_type", "linear_probe"), ("seed", "$params.seed")]),
        Step("sparse-probe", "bottleneck.train", [("features", "$steps.encode-train.codes"), ("eval", "$steps.encode-test.codes"), ("names", "$steps.name.names")],
            [("model_type", "sparse_probe"), ("options", "$params.sparse_options"), ("seed", "$params.seed")]),
        Step("pcbm-h", "bottleneck.train", [("features", "$steps.embed-train.activations"), ("eval", "$steps.embed-test.activations"),
            ("dictionary", "$steps.discover.dictionary"), ("names", "$steps.name.names")],
            [("model_type", "pcbm_h"), ("options", "$params.pcbm_options"), ("seed", "$params.seed")]),
        Step("predict-probe", "bottleneck.predict", [("model", "$steps.probe.model"), ("activations", "$steps.embed-test.activations")]),
        Step("importance", "explain.class-importance", [("model", "$steps.sparse-probe.model"), ("activations", "$steps.encode-test.codes")],
            [("method", "$params.importance"), ("clusters", "3"), ("seed", "$params.seed")]),
        Step("fidelity", "explain.fidelity", [("model", "$steps.sparse-probe.model"), ("activations", "$steps.encode-test.codes"), ("reference", "$steps.predict-probe.predictions")],
            [("method", "$params.importance"), ("seed", "$params.seed")]),
        Step("report", "gateway.report", [("dictionary", "$steps.discover.dictionary"), ("names", "$steps.name.names"), ("importance", "$steps.importance.importance"),
            ("probe", "$steps.probe.model"), ("sparse_probe", "$steps.sparse-probe.model"), ("pcbm_h", "$steps.pcbm-h.model"), ("fidelity", "$steps.fidelity.fidelity")]),
        Step("atlas", "atlas.render")]);

    /// <summary>
    /// CRAFT-style explanation (Fel et al., "CRAFT: Concept Recursive Activation FacTorization"):
    /// Fashion-MNIST → ResNet18 pooled activations (non-negative after the last ReLU) → an NMF
    /// concept bank A ≈ U·W → NNLS codes U of train and test → a linear head on the codes (the
    /// model's decision expressed through the concepts) → per class, Sobol total indices of every
    /// concept over a quasi-Monte-Carlo mask design, prevalence, reliability, and the strategic
    /// cluster graph of the class's samples by their importance vectors. One NMF is fitted over
    /// all classes (a shared bank), not one per class as in the paper: the importance step then
    /// compares classes on the same concepts. The last step renders the atlas.
    /// </summary>
    static WorkflowSpec CraftExplain() => Spec("craft-explain",
        [("dataset", "fashion-mnist"), ("dataset_options", ""), ("train_rows", "1000"), ("test_rows", "300"), ("model", "resnet18"), ("concepts", "16"), ("nmf_options", ""),
         ("design_size", "32"), ("clusters", "3"), ("seed", "0")],
        ImportData("import-train", "train", "$params.train_rows"),
        ImportData("import-test", "test", "$params.test_rows"),
        Step("embed-train", "embedding.embed", [("dataset", "$steps.import-train.dataset")], [("model", "$params.model")]),
        Step("embed-test", "embedding.embed", [("dataset", "$steps.import-test.dataset")], [("model", "$params.model")]),
        Step("nmf", "discovery.fit", [("activations", "$steps.embed-train.activations")],
            [("method", "nmf"), ("concepts", "$params.concepts"), ("method_options", "$params.nmf_options"), ("seed", "$params.seed")]),
        Step("encode-train", "discovery.encode", [("dictionary", "$steps.nmf.dictionary"), ("activations", "$steps.embed-train.activations")]),
        Step("encode-test", "discovery.encode", [("dictionary", "$steps.nmf.dictionary"), ("activations", "$steps.embed-test.activations")]),
        Step("head", "bottleneck.train", [("features", "$steps.encode-train.codes"), ("eval", "$steps.encode-test.codes")],
            [("model_type", "linear_probe"), ("seed", "$params.seed")]),
        Step("importance", "explain.class-importance", [("model", "$steps.head.model"), ("activations", "$steps.encode-test.codes")],
            [("method", "sobol"), ("design_size", "$params.design_size"), ("clusters", "$params.clusters"), ("seed", "$params.seed")]),
        Step("atlas", "atlas.render"));

    /// <summary>
    /// Do two networks learn the same things? Fashion-MNIST → the suite's small CNN trained on the
    /// train slice → the same test images embedded by ImageNet ResNet18 (pooled, 512) and by the
    /// CNN (features, 128) → linear and debiased CKA and one-to-one unit matching.
    /// </summary>
    static WorkflowSpec CompareModels() => Spec("compare-models",
        [("dataset", "fashion-mnist"), ("dataset_options", ""), ("train_rows", "2000"), ("test_rows", "500"), ("model", "resnet18"), ("cnn_epochs", "3"), ("similarities", "linear_cka,debiased_cka"), ("seed", "0")],
        ImportData("import-train", "train", "$params.train_rows"),
        ImportData("import-test", "test", "$params.test_rows"),
        Step("train-cnn", "embedding.train-backbone", [("dataset", "$steps.import-train.dataset")],
            [("architecture", "cnn"), ("epochs", "$params.cnn_epochs"), ("seed", "$params.seed")]),
        Step("embed-a", "embedding.embed", [("dataset", "$steps.import-test.dataset")], [("model", "$params.model")]),
        Step("embed-b", "embedding.embed", [("dataset", "$steps.import-test.dataset"), ("backbone", "$steps.train-cnn.backbone")]),
        Step("compare", "explain.compare", [("a", "$steps.embed-a.activations"), ("b", "$steps.embed-b.activations")],
            [("similarities", "$params.similarities"), ("match_units", "true"), ("seed", "$params.seed")]));

    /// <summary>
    /// Concept erasure on a generator: train one on concept-shapes with the CPU configuration
    /// (or pass a stored one as parameter generator) → erase a concept in closed form, with the
    /// efficacy/drift report → evaluate the edited generator's per-concept rates, judged by the
    /// original's classifier.
    /// </summary>
    static WorkflowSpec EraseConcept() => Spec("erase-concept",
        [("generator", ""), ("preset", "cpu"), ("train_steps", "1500"), ("samples", "4000"), ("batch_size", "32"), ("learning_rate", "0.003"),
         ("concepts", "red"), ("method", "realera"), ("report_samples", "16"), ("sample_steps", "15"),
         ("eval_prompts", "a red square;a green square;a blue square;a yellow square"), ("eval_samples", "16"), ("seed", "0")],
        Step("train", "generate.train", options: [("generator", "$params.generator"), ("preset", "$params.preset"), ("source", "concept-shapes"),
            ("samples", "$params.samples"), ("steps", "$params.train_steps"), ("batch_size", "$params.batch_size"),
            ("learning_rate", "$params.learning_rate"), ("seed", "$params.seed")]),
        Step("erase", "generate.erase", [("generator", "$steps.train.generator")],
            [("concepts", "$params.concepts"), ("method", "$params.method"), ("report_samples", "$params.report_samples"),
             ("report_steps", "$params.sample_steps"), ("seed", "$params.seed")]),
        Step("evaluate", "generate.evaluate", [("generator", "$steps.erase.generator"), ("classifier", "$steps.train.generator")],
            [("prompts", "$params.eval_prompts"), ("samples", "$params.eval_samples"), ("steps", "$params.sample_steps"), ("seed", "$params.seed")]));

    /// <summary>
    /// Can the concepts be trusted? Discover-then-Name with a concept bottleneck on concept-shapes,
    /// whose images carry ground truth (a label and a pixel mask per factor value): train and test
    /// scenes (two seeds; train_options and test_options are the generator's, e.g. "spurious=1"
    /// ties the training scenes' background to the class) → ResNet18 pooled features, and the test
    /// scenes' spatial features at <c>tap</c> (layer4: the channels the pool averages, so the
    /// dictionary's atoms apply to each patch) → a dictionary (NMF; method topk_sae with
    /// dictionary_options "k=4;epochs=60;batch_size=64" works too) → top examples → names from the
    /// captions' words ("a small striped red square on the left, dotted background") through the
    /// code–caption directions → codes → the sparse concept bottleneck → class importance → trust:
    /// each concept matched to the factor value it detects best (AUC), existence (are the concepts
    /// the model relies on for a class in the image?) and location (do their activation maps fall on
    /// the value's mask?) → attribution maps over each concept's top images → the atlas, whose cards
    /// show the heatmaps and the trust figures.
    /// </summary>
    static WorkflowSpec ConceptShapesTrust() => Spec("concept-shapes-trust",
        [("train_rows", "300"), ("test_rows", "150"), ("train_seed", "1"), ("test_seed", "2"), ("train_options", ""), ("test_options", ""), ("model", "resnet18"), ("tap", "layer4"),
         ("method", "nmf"), ("concepts", "16"), ("dictionary_options", ""), ("vocabulary_size", "0"),
         ("cbm_options", "max_concepts_per_class=4"), ("top_k", "1"), ("class_level", "true"), ("location_all_relied", "false"),
         ("location_chance_corrected", "false"), ("seed", "0")],
        [Step("import-train", "dataset.import", options: [("source", "concept-shapes"), ("limit", "$params.train_rows"), ("seed", "$params.train_seed"),
            ("source_options", "$params.train_options")]),
        Step("import-test", "dataset.import", options: [("source", "concept-shapes"), ("limit", "$params.test_rows"), ("seed", "$params.test_seed"),
            ("source_options", "$params.test_options")]),
        Step("embed-train", "embedding.embed", [("dataset", "$steps.import-train.dataset")], [("model", "$params.model")]),
        Step("embed-test", "embedding.embed", [("dataset", "$steps.import-test.dataset")], [("model", "$params.model")]),
        Step("embed-test-spatial", "embedding.embed", [("dataset", "$steps.import-test.dataset")], [("model", "$params.model"), ("taps", "$params.tap")]),
        .. DiscoverThenName("$params.method", "$params.dictionary_options"),
        Step("cbm", "bottleneck.train", [("features", "$steps.encode-train.codes"), ("eval", "$steps.encode-test.codes"), ("names", "$steps.name.names")],
            [("model_type", "sparse_probe"), ("options", "$params.cbm_options"), ("seed", "$params.seed")]),
        Step("importance", "explain.class-importance", [("model", "$steps.cbm.model"), ("activations", "$steps.encode-test.codes")],
            [("method", "gradient_input"), ("clusters", "0"), ("seed", "$params.seed")]),
        Step("trust", "explain.trust", [("model", "$steps.cbm.model"), ("codes", "$steps.encode-test.codes"), ("dataset", "$steps.import-test.dataset"),
            ("spatial", "$steps.embed-test-spatial.activations"), ("dictionary", "$steps.discover.dictionary")],
            [("top_k", "$params.top_k"), ("class_level", "$params.class_level"), ("location_all_relied", "$params.location_all_relied"),
             ("location_chance_corrected", "$params.location_chance_corrected"), ("seed", "$params.seed")]),
        Step("attribution-maps", "explain.attribution-maps", [("dictionary", "$steps.discover.dictionary"), ("spatial", "$steps.embed-test-spatial.activations"),
            ("examples", "$steps.top-examples.examples"), ("dataset", "$steps.import-test.dataset")]),
        Step("atlas", "atlas.render")]);

    /// <summary>
    /// An import step of an image workflow: the train or test split of the source the parameter
    /// "dataset" names — a built-in one ("fashion-mnist", the default) or a stored dataset
    /// ("artifact:ID", from `concept import` or the Python client), split by a permutation drawn from
    /// the workflow's seed, its test share set by "dataset_options" ("test_fraction=0.2").
    /// </summary>
    /// <summary>
    /// Discover-then-Name on the embedded splits ("embed-train", "embed-test" of "import-train",
    /// "import-test"): a dictionary of <paramref name="method"/> fitted on the train activations
    /// (validated on the test ones), its top examples among the test images, the vocabulary and the
    /// captions of the train images, the concepts' names, and the codes of both splits.
    /// </summary>
    static WorkflowStep[] DiscoverThenName(string method, string methodOptions) =>
    [
        Step("discover", "discovery.fit", [("activations", "$steps.embed-train.activations"), ("validation", "$steps.embed-test.activations")],
            [("method", method), ("concepts", "$params.concepts"), ("method_options", methodOptions), ("seed", "$params.seed")]),
        Step("top-examples", "discovery.top-examples",
            [("dictionary", "$steps.discover.dictionary"), ("activations", "$steps.embed-test.activations"), ("dataset", "$steps.import-test.dataset")], [("k", "6")]),
        Step("vocabulary", "embedding.vocabulary", [("dataset", "$steps.import-train.dataset")], [("size", "$params.vocabulary_size")]),
        Step("captions", "embedding.captions", [("dataset", "$steps.import-train.dataset")]),
        Step("name", "discovery.name", [("dictionary", "$steps.discover.dictionary"), ("vocabulary", "$steps.vocabulary.vocabulary"),
            ("activations", "$steps.embed-train.activations"), ("captions", "$steps.captions.captions")]),
        Step("encode-train", "discovery.encode", [("dictionary", "$steps.discover.dictionary"), ("activations", "$steps.embed-train.activations")]),
        Step("encode-test", "discovery.encode", [("dictionary", "$steps.discover.dictionary"), ("activations", "$steps.embed-test.activations")]),
    ];

    static WorkflowStep ImportData(string name, string split, string limit) =>
        Step(name, "dataset.import", options: [("source", "$params.dataset"), ("split", split), ("limit", limit), ("seed", "$params.seed"),
            ("source_options", "$params.dataset_options")]);

    /// <summary>
    /// Language-model features, as SAELens and dictionary_learning do them: WordNet's glosses
    /// (definitions and usage examples, a seeded sample of <c>texts</c>) → MiniLM's residual stream
    /// at <c>tap</c>, one row per real token → a TopK sparse autoencoder → per latent the
    /// top-activating tokens in their text and a proposed name, explained variance, L0, dead and
    /// dense latents, the firing-density histogram and the sentence-embedding cosine with the
    /// reconstruction spliced in → the atlas with text cards.
    /// </summary>
    static WorkflowSpec TextFeatures() => Spec("text-features",
        [("texts", "3000"), ("source_options", "parts=both"), ("model", "minilm"), ("tap", "layer2"), ("concepts", "1536"),
         ("sae_options", "k=24;epochs=20;batch_size=512"), ("splice_texts", "256"), ("seed", "0")],
        Step("import", "dataset.import", options: [("source", "wordnet-glosses"), ("limit", "$params.texts"), ("seed", "$params.seed"),
            ("source_options", "$params.source_options")]),
        Step("tokens", "embedding.tokens", [("texts", "$steps.import.dataset")], [("model", "$params.model"), ("tap", "$params.tap")]),
        Step("discover", "discovery.fit", [("activations", "$steps.tokens.activations")],
            [("method", "topk_sae"), ("concepts", "$params.concepts"), ("method_options", "$params.sae_options"), ("seed", "$params.seed")]),
        Step("features", "text.features", [("dictionary", "$steps.discover.dictionary"), ("tokens", "$steps.tokens.activations")],
            [("splice_texts", "$params.splice_texts")]),
        Step("atlas", "atlas.render"));

    public static IReadOnlyCollection<string> Names => Specs.Keys;

    public static WorkflowSpec Get(string name, string field = "builtin") =>
        Specs.TryGetValue(name, out var f) ? f()
            : throw new InvalidInputException(field, $"unknown workflow '{name}'; built-in: {(Specs.Count == 0 ? "(none)" : string.Join(", ", Specs.Keys.Order()))}");

    public static IEnumerable<WorkflowSpec> All => Specs.Values.Select(f => f());

    internal static WorkflowStep Step(string name, string method, (string, string)[]? inputs = null, (string, string)[]? options = null, string stage = "")
    {
        var s = new WorkflowStep { Name = name, Method = method, Stage = stage };
        foreach (var (k, v) in inputs ?? []) s.Inputs[k] = v;
        foreach (var (k, v) in options ?? []) s.Options[k] = v;
        return s;
    }

    internal static WorkflowSpec Spec(string name, (string, string)[] defaults, params WorkflowStep[] steps)
    {
        var w = new WorkflowSpec { Name = name };
        foreach (var (k, v) in defaults) w.Defaults[k] = v;
        w.Steps.Add(steps);
        return w;
    }
}
