using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Hosting;
using ConceptSuite.Core.Jobs;
using ConceptSuite.Core.Methods;
using ConceptSuite.Core.Streaming;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Explain.Importance;
using ConceptSuite.Explain.IntrinsicDimension;
using ConceptSuite.Explain.Metrics;
using ConceptSuite.Explain.Representations;
using Grpc.Core;
using Microsoft.Extensions.Options;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Explain;

/// <summary>The gRPC service of the explain stage: validate, call the methods, stream results.</summary>
public sealed class ExplainGrpcService(ArtifactStore store, JobRunners runners, MethodCatalog catalog, Core.Limits.RequestBudget budget, IOptions<SuiteOptions> suite)
    : ExplainService.ExplainServiceBase
{
    readonly int _blockBytes = suite.Value.BlockBytes;

    public override Task<ListMethodsResponse> ListMethods(ListMethodsRequest request, ServerCallContext context) =>
        Task.FromResult(catalog.List(ExplainStage.Name, request));

    /// <summary>The estimator the settings name ("sobol" when unset), its options parsed once; the request's seed in the context.</summary>
    IConceptImportance Estimator(ImportanceSettings? s) =>
        ImportanceEstimators.Family.Create(string.IsNullOrEmpty(s?.Method) ? "sobol" : s.Method, s?.Options, "config.importance",
            RequestSeed.Context(s?.Seed ?? 0, budget.MaxCallBytes));

    /// <summary>Reads a request stream and computes the unary answer in one dispose scope (closed before the reply is sent).</summary>
    async Task<TResponse> AnswerAsync<TRequest, TConfig, TResponse>(IAsyncStreamReader<TRequest> requests, Func<TRequest, TConfig?> config,
        Func<TRequest, TensorBlock?> block, Func<TConfig, ArtifactRef?> artifact, Func<TConfig, ExplainInputs, TResponse> answer, CancellationToken ct)
        where TConfig : class
    {
        var (cfg, inputs) = await ExplainInputs.ReadAsync(requests, config, block, artifact, store, ct);
        using var _ = inputs;
        return TensorScope.Run(() => answer(cfg, inputs));
    }

    /// <summary>"importance" when sent, else the estimator's output on coefficients, targets and head.</summary>
    Tensor ImportanceOf(ExplainInputs inputs, ImportanceSettings? settings)
    {
        if (inputs.Optional("importance") is { } given) return ExplainTensors.Matrix(given, "importance");
        var estimator = Estimator(settings);
        var u = inputs.Coefficients();
        var targets = inputs.Indices("targets", u.shape[0]);
        return estimator.Explain(inputs.Head(u.shape[1]), u, targets);
    }

    public override async Task ConceptImportance(IAsyncStreamReader<ConceptImportanceRequest> requestStream, IServerStreamWriter<TensorBlock> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var (cfg, inputs) = await ExplainInputs.ReadAsync(requestStream, r => r.Config, r => r.Block, c => c.Artifact, store, ct);
        using var _ = inputs;
        await TensorReplies.WriteAsync(responseStream, () =>
        {
            var estimator = Estimator(cfg.Importance);
            inputs.UseModel(cfg.Model, store);
            var u = inputs.Coefficients();
            var targets = inputs.Indices("targets", u.shape[0]);
            return estimator.Explain(inputs.Head(u.shape[1]), u, targets).to_type(ScalarType.Float32);
        }, "importance", _blockBytes, ct);
    }

    public override Task<ClassImportanceResponse> ClassImportance(IAsyncStreamReader<ClassImportanceRequest> requestStream, ServerCallContext context) =>
        AnswerAsync(requestStream, r => r.Config, r => r.Block, c => c.Artifact, (cfg, inputs) =>
        {
            inputs.UseModel(cfg.Model, store);
            var u = inputs.Coefficients();
            var groups = inputs.Indices(cfg.GroupByTargets ? "targets" : "labels", u.shape[0]);
            var phi = ImportanceOf(inputs, cfg.Importance);
            var report = ClassConceptReport.Compute(phi, u, groups, cfg.ClassIndex, cfg.PresenceThreshold);
            var response = new ClassImportanceResponse { ClassIndex = report.Class, Samples = report.Samples };
            response.Importance.AddRange(report.Importance);
            response.Prevalence.AddRange(report.Prevalence);
            response.Reliability.AddRange(report.Reliability);
            if (cfg.Clusters < 0) throw new InvalidInputException("config.clusters", "must be ≥ 0");
            if (cfg.Clusters == 0) return response;
            var graph = new StrategicClusterGraph(cfg.Clusters, cfg.Exemplars > 0 ? cfg.Exemplars : 3, cfg.DominantConcepts > 0 ? cfg.DominantConcepts : 3, (int)(cfg.Importance?.Seed ?? 0));
            foreach (var c in graph.Build(phi, groups, cfg.ClassIndex))
            {
                var m = new ConceptCluster();
                m.Members.AddRange(c.Members.Select(x => (long)x));
                m.Exemplars.AddRange(c.Exemplars.Select(x => (long)x));
                m.DominantConcepts.AddRange(c.DominantConcepts.Select(x => (long)x));
                m.Centroid.AddRange(c.Centroid);
                response.Clusters.Add(m);
            }
            return response;
        }, context.CancellationToken);

    public override async Task AttributionMaps(IAsyncStreamReader<AttributionMapsRequest> requestStream, IServerStreamWriter<TensorBlock> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var (cfg, inputs) = await ExplainInputs.ReadAsync(requestStream, r => r.Config, r => r.Block, c => c.Artifact, store, ct);
        using var _ = inputs;
        var activations = inputs.Require("activations");
        var bank = inputs.Require("dictionary");
        if (cfg.ImageHeight < 1 || cfg.ImageWidth < 1) throw new InvalidInputException("config.image_height", "image_height and image_width must be positive");
        budget.Bytes("config.image_height", Core.Limits.RequestBudget.Product(cfg.Concepts.Count > 0 ? cfg.Concepts.Count : bank.shape[0], cfg.ImageHeight, cfg.ImageWidth, 12)); // one sample's maps; row blocks hold a few samples at a time
        long n = activations.shape[0];
        long perBlock = Math.Max(1, (_blockBytes / 4) / Math.Max(1, (cfg.Concepts.Count > 0 ? cfg.Concepts.Count : bank.shape[0]) * cfg.ImageHeight * cfg.ImageWidth));
        for (long s = 0; s < Math.Max(n, 1); s += perBlock)
        {
            ct.ThrowIfCancellationRequested();
            long start = s;
            using var maps = TensorScope.Keep(() =>
            {
                var rows = activations.dim() >= 1 && n > 0 ? activations.narrow(0, start, Math.Min(perBlock, n - start)) : activations;
                return ConceptActivationMaps.Compute(rows, bank, cfg.Concepts.ToArray(), cfg.ImageHeight, cfg.ImageWidth).to_type(ScalarType.Float32);
            });
            foreach (var b in TensorStreams.Split(maps, "maps", null, _blockBytes, start, n))
                await responseStream.WriteAsync(b, ct);
            if (n == 0) break;
        }
    }

    public override Task<FidelityResponse> Fidelity(IAsyncStreamReader<FidelityRequest> requestStream, ServerCallContext context) =>
        AnswerAsync(requestStream, r => r.Config, r => r.Block, c => c.Artifact, (cfg, inputs) =>
        {
            inputs.UseModel(cfg.Model, store);
            var u = inputs.Coefficients();
            var targets = inputs.Indices("targets", u.shape[0]);
            var head = inputs.Head(u.shape[1]);
            var phi = ImportanceOf(inputs, cfg.Importance);
            var curves = DeletionInsertion.Compute(head, u, targets, phi);
            var mu = new MuFidelity(cfg.Subsets > 0 ? cfg.Subsets : 128, cfg.SubsetFraction > 0 ? cfg.SubsetFraction : 0.2, cfg.Importance?.Seed ?? 0).Compute(head, u, targets, phi);
            var response = new FidelityResponse
            {
                DeletionArea = curves.DeletionArea,
                InsertionArea = curves.InsertionArea,
                MuFidelity = mu,
                Samples = curves.Samples,
                L0 = Sparsity.L0(u),
                Hoyer = u.shape[1] >= 2 ? Sparsity.Hoyer(u) : 0,
            };
            response.DeletionCurve.AddRange(curves.DeletionCurve);
            response.InsertionCurve.AddRange(curves.InsertionCurve);
            if (inputs.Has("labels") && inputs.Has("model_predictions"))
            {
                var labels = inputs.Indices("labels", u.shape[0]);
                var model = inputs.Indices("model_predictions", u.shape[0]);
                var concept = head.Forward(u).argmax(1).data<long>().ToArray();
                response.Completeness = Completeness.Compute(labels, model, concept, cfg.ChanceAccuracy > 0 ? cfg.ChanceAccuracy : null, (int)head.Classes);
            }
            if (inputs.Has("concepts_a") && inputs.Has("concepts_b"))
                response.Stability = SeedStability.Compute(inputs.Require("concepts_a"), inputs.Require("concepts_b")).MeanCosine;
            return response;
        }, context.CancellationToken);

    public override Task<ConceptTrustResponse> ConceptTrust(IAsyncStreamReader<ConceptTrustRequest> requestStream, ServerCallContext context) =>
        AnswerAsync(requestStream, r => r.Config, r => r.Block, c => c.Artifact, (cfg, inputs) =>
        {
            inputs.UseModel(cfg.Model, store);
            var phi = ImportanceOf(inputs, cfg.Importance);
            var labels = inputs.Indices("labels", phi.shape[0]);
            var conceptLabels = inputs.Require("concept_labels");
            var response = new ConceptTrustResponse();
            Tensor? matched = null;
            if (cfg.MatchGroundTruth)
            {
                var (value, auc) = Metrics.ConceptTrust.MatchGroundTruth(inputs.Coefficients(), conceptLabels);
                response.MatchedValue.AddRange(value);
                response.MatchedAuc.AddRange(auc);
                matched = torch.tensor(value);
                conceptLabels = conceptLabels.index_select(1, matched);
            }
            int topK = cfg.TopK > 0 ? cfg.TopK : Math.Min(3, (int)phi.shape[1]);
            int classes = cfg.Classes > 0 ? budget.Classes("config.classes", cfg.Classes - 1L) : budget.Classes("labels", labels.DefaultIfEmpty(0).Max(), labels.DefaultIfEmpty(0).Min());
            var gi = Metrics.ConceptTrust.GlobalImportance(phi, labels, classes);
            var top = cfg.ClassLevel ? Metrics.ConceptTrust.ClassTopConcepts(gi, labels, topK) : null;
            response.GlobalImportance = TensorCodec.ToMessageCopy(ExplainTensors.FromArray2D(gi));
            response.Existence = Metrics.ConceptTrust.Existence(phi, conceptLabels, topK, top);
            Tensor? maps = null, masks = null;
            if (inputs.Has("concept_masks"))
            {
                masks = inputs.Require("concept_masks");
                if (masks.dim() != 4) throw new InvalidInputException("concept_masks", $"expected [N, K, H, W], got rank {masks.dim()}");
                // Maps, masks (matched to the concepts) and their product in float64, before any is built.
                budget.Bytes("concept_masks", Core.Limits.RequestBudget.Product(phi.shape[0], phi.shape[1], masks.shape[2], masks.shape[3], 8 * 4));
                if (matched is not null) masks = masks.index_select(1, matched);
                maps = inputs.Optional("maps")
                    ?? ConceptActivationMaps.Compute(inputs.Require("activations"), inputs.Require("dictionary"), [], masks.shape[2], masks.shape[3]);
                response.Location = Metrics.ConceptTrust.Location(phi, conceptLabels, maps, masks, topK, top, cfg.LocationAllRelied, cfg.LocationChanceCorrected);
            }
            var perConcept = Metrics.ConceptTrust.PerConcept(phi, conceptLabels, topK, top, maps, masks, cfg.LocationAllRelied, cfg.LocationChanceCorrected);
            response.ConceptRelied.AddRange(perConcept.Relied);
            response.ConceptExistence.AddRange(perConcept.Existence);
            response.ConceptLocated.AddRange(perConcept.Located);
            response.ConceptLocation.AddRange(perConcept.Location);
            return response;
        }, context.CancellationToken);

    public override Task<CompareRepresentationsResponse> CompareRepresentations(IAsyncStreamReader<CompareRepresentationsRequest> requestStream, ServerCallContext context) =>
        AnswerAsync(requestStream, r => r.Config, r => r.Block, c => c.Artifact,
            (cfg, inputs) => RepresentationComparison.Compare(cfg, inputs.Require("a"), inputs.Require("b"), context.CancellationToken), context.CancellationToken);

    public override async Task IntrinsicDimension(IAsyncStreamReader<IntrinsicDimensionRequest> requestStream, IServerStreamWriter<JobEvent> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var (cfg, inputs) = await ExplainInputs.ReadAsync(requestStream, r => r.Config, r => r.Block, c => c.Artifact, store, ct);
        using var _ = inputs;
        var job = IntrinsicDimensionJob.Plan(cfg, inputs, budget);
        await runners.For(ExplainStage.Name).RunAsync(job.Key, job.RunAsync, responseStream, ct);
    }
}
