using ConceptSuite.Core.Hosting;
using ConceptSuite.Core.Limits;
using ConceptSuite.Core.Methods;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// The workflow step methods, selected by <c>WorkflowStep.method</c>: one line each (name, what it
/// follows, description, option schema, factory, signature). A new step is one executor file and
/// one line here.
/// </summary>
public static class WorkflowSteps
{
    public static readonly MethodFamily<StepFactory> Family = new("workflow_step", GatewayStage.Name,
        "Stage calls a workflow step can make; the traits give the serving stage, the artifact inputs and the outputs.", "WorkflowStep.method",
    [
        Entry("transport.echo", "Round-trips an artifact's tensors through a stage's TensorTransport.Echo into the store.",
            [], (_, _) => new TransportEchoStep(), new("gateway", ["artifact"], [], ["artifact"])),
        Entry("dataset.import", "Imports a built-in data set (EmbeddingService.ImportDataset: fashion-mnist:train, fashion-mnist:test, mnist:test, concept-shapes; wordnet-glosses, a text corpus) or a split of a stored one (artifact:ID) as a dataset (or texts) artifact.",
            DatasetImportStep.Options.Schema, (o, _) => new DatasetImportStep(DatasetImportStep.Options.From(o)), new("embedding", [], [], ["dataset"])),
        Entry("embedding.embed", "Embeds a dataset with a backbone (EmbeddingService.EmbedDataset).",
            EmbedDatasetStep.Options.Schema, (o, _) => new EmbedDatasetStep(EmbedDatasetStep.Options.From(o)), new("embedding", ["dataset"], ["backbone"], ["activations"])),
        Entry("embedding.train-backbone", "Trains a built-in backbone (cnn, vit) on a dataset (EmbeddingService.TrainBackbone).",
            TrainBackboneStep.Options.Schema, (o, _) => new TrainBackboneStep(TrainBackboneStep.Options.From(o)), new("embedding", ["dataset"], [], ["backbone"])),
        Entry("embedding.vocabulary", "Embeds a naming vocabulary (WordNet's most frequent words + class-name words + extra words) with a text model (EmbeddingService.EmbedText).",
            TextEmbeddingStep.Options.Schema, (o, _) => new TextEmbeddingStep(TextEmbeddingStep.Options.From(o)), new("embedding", [], ["dataset"], ["vocabulary"])),
        Entry("embedding.captions", "Embeds a data set's per-image captions with a text model (EmbeddingService.EmbedText), for the naming bridge.",
            CaptionEmbeddingStep.Options.Schema, (o, services) => new CaptionEmbeddingStep(CaptionEmbeddingStep.Options.From(o)), new("embedding", ["dataset"], [], ["captions"])),
        Entry("embedding.tokens", "Token-level activations of a text corpus at one residual-stream tap of a token model (EmbeddingService.EmbedText with token_tap), one row per real token.",
            TokenEmbeddingStep.Options.Schema, (o, _) => new TokenEmbeddingStep(TokenEmbeddingStep.Options.From(o)), new("embedding", ["texts"], [], ["activations"])),
        Entry("discovery.fit", "Fits a concept dictionary (TopK SAE, NMF, PCA, ...) on activations (DiscoveryService.Fit); cocca and scocca also take the paired rows of a second modality (input paired).",
            DiscoveryFitStep.Options.Schema, (o, _) => new DiscoveryFitStep(DiscoveryFitStep.Options.From(o)), new("discovery", ["activations"], ["validation", "paired"], ["dictionary"])),
        Entry("discovery.top-examples", "Top-activating samples of each concept (DiscoveryService.TopExamples), stored for the atlas.",
            TopExamplesStep.Options.Schema, (o, _) => new TopExamplesStep(TopExamplesStep.Options.From(o)), new("discovery", ["dictionary", "activations"], ["dataset"], ["examples"])),
        Entry("discovery.name", "Names dictionary atoms by the nearest vocabulary word of their image→text mapped direction (DiscoveryService.NameConcepts).",
            NameConceptsStep.Options.Schema, (o, _) => new NameConceptsStep(NameConceptsStep.Options.From(o)), new("discovery", ["dictionary", "vocabulary", "activations", "captions"], [], ["names"])),
        Entry("discovery.encode", "Concept coefficients of activations under a dictionary (DiscoveryService.Encode), stored as activations with the source's labels.",
            ActivationTensorOptions.Schema, (o, _) => new EncodeStep(ActivationTensorOptions.From(o)), new("discovery", ["dictionary", "activations"], [], ["codes"])),
        Entry("text.features", "A dictionary on token activations, measured as SAE users compare it (explained variance, L0, dead and dense latents, firing density, sentence-embedding cosine with the reconstruction spliced in) and shown as top tokens in context with proposed names.",
            TextFeaturesStep.Options.Schema, (o, _) => new TextFeaturesStep(TextFeaturesStep.Options.From(o)), new("discovery", ["dictionary", "tokens"], [], ["features"])),
        Entry("bottleneck.train", "Trains a bottleneck model (probe, sparse probe, PCBM-h, ...) on activations, scored on held-out activations (BottleneckService.Train).",
            BottleneckTrainStep.Options.Schema, (o, _) => new BottleneckTrainStep(BottleneckTrainStep.Options.From(o)), new("bottleneck", ["features"], ["eval", "dictionary", "names"], ["model"])),
        Entry("bottleneck.predict", "Predictions of a bottleneck model on activations, with accuracy against their labels (BottleneckService.Predict).",
            ActivationTensorOptions.Schema, (o, _) => new BottleneckPredictStep(ActivationTensorOptions.From(o)), new("bottleneck", ["model", "activations"], [], ["predictions"])),
        Entry("explain.class-importance", "Importance, prevalence, reliability and cluster graph of every concept for every class of a bottleneck model (ExplainService.ClassImportance).",
            ClassImportanceStep.Options.Schema, (o, _) => new ClassImportanceStep(ClassImportanceStep.Options.From(o)), new("explain", ["model", "activations"], [], ["importance"])),
        Entry("explain.fidelity", "Deletion/insertion curves, MuFidelity, sparsity and completeness of a bottleneck model's concepts (ExplainService.Fidelity).",
            FidelityStep.Options.Schema, (o, _) => new FidelityStep(FidelityStep.Options.From(o)), new("explain", ["model", "activations"], ["reference"], ["fidelity"])),
        Entry("explain.trust", "Existence and location of a concept bottleneck's discovered concepts against a data set's ground truth (ExplainService.ConceptTrust): each concept matched to the factor value it detects best (AUC), its activation maps on a spatial tap against that value's masks.",
            ConceptTrustStep.Options.Schema, (o, _) => new ConceptTrustStep(ConceptTrustStep.Options.From(o)), new("explain", ["model", "codes", "dataset", "spatial", "dictionary"], [], ["report"])),
        Entry("explain.attribution-maps", "Where each concept is in its top-activating images: its atom's activation map on a spatial tap, upsampled to the image (ExplainService.AttributionMaps), stored for the atlas's heatmaps.",
            AttributionMapsStep.Options.Schema, (o, services) => new AttributionMapsStep(AttributionMapsStep.Options.From(o), services.GetRequiredService<RequestBudget>()),
            new("explain", ["dictionary", "spatial", "examples"], ["dataset"], ["maps"])),
        Entry("explain.compare", "Compares two activation artifacts: CKA family, unit matching (ExplainService.CompareRepresentations).",
            CompareRepresentationsStep.Options.Schema, (o, _) => new CompareRepresentationsStep(CompareRepresentationsStep.Options.From(o)), new("explain", ["a", "b"], [], ["report"])),
        Entry("generate.train", "Trains a concept diffusion generator (GenerateService.TrainGenerator), or loads a stored one (option generator).",
            GenerateTrainStep.Options.Schema, (o, _) => new GenerateTrainStep(GenerateTrainStep.Options.From(o)), new("generate", [], [], ["generator"])),
        Entry("generate.erase", "Erases concepts from a generator and reports efficacy and drift (GenerateService.Erase).",
            GenerateEraseStep.Options.Schema, (o, _) => new GenerateEraseStep(GenerateEraseStep.Options.From(o)), new("generate", ["generator"], [], ["generator"])),
        Entry("generate.evaluate", "Per-concept rates of a generator judged by a concept classifier (GenerateService.Evaluate).",
            GenerateEvaluateStep.Options.Schema, (o, _) => new GenerateEvaluateStep(GenerateEvaluateStep.Options.From(o)), new("generate", ["generator"], ["classifier"], [])),
        Entry("gateway.report", "Summary of a discover-name-cbm run: dictionary fit, accuracy of probe vs concept models, fidelity, top named concepts.",
            ReportStep.Options.Schema, (o, _) => new ReportStep(ReportStep.Options.From(o)), new("gateway", ["dictionary", "names", "importance"], ["probe", "sparse_probe", "pcbm_h", "fidelity"], ["report"])),
        Entry("atlas.render", "The workflow's concept atlas (steps, models, plots, data, concepts) as one self-contained HTML file, stored as an \"atlas\" artifact.",
            [], (_, _) => new AtlasRenderStep(), new("gateway", [], [], ["atlas"], ReadsWorkflow: true)),
    ]);

    /// <summary>An entry whose factory builds the executor from the parsed options and the gateway's services.</summary>
    static MethodEntry<StepFactory> Entry(string name, string description, IReadOnlyList<OptionSpec> schema,
        Func<OptionValues, IServiceProvider, IStepExecutor> create, StepSignature signature) =>
        new(name, "", description, schema, o => services => create(o, services), signature.Traits());
}
