using System.Security.Cryptography;
using System.Text.Json;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Hosting;
using ConceptSuite.Core.Jobs;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Explain.Importance;
using ConceptSuite.Explain.Intrinsic;
using ConceptSuite.Explain.Metrics;
using ConceptSuite.Explain.Representations;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Explain;

/// <summary>The gRPC service of the explain stage: validate, call the methods, stream results.</summary>
public sealed class ExplainService(ArtifactStore store, JobRunners runners) : Contracts.ExplainService.ExplainServiceBase
{
    static ImportanceOptions Options(ImportanceSettings? s) => s is null ? new() : new ImportanceOptions
    {
        DesignSize = s.DesignSize > 0 ? s.DesignSize : 64,
        Repeats = s.Repeats > 0 ? s.Repeats : 1,
        Design = string.IsNullOrEmpty(s.Design) ? "sobol" : s.Design,
        Steps = s.Steps > 0 ? s.Steps : 32,
        Masks = s.Masks > 0 ? s.Masks : 512,
        KeepProbability = s.KeepProbability > 0 ? s.KeepProbability : 0.5,
        Seed = s.Seed,
    };

    static IConceptImportance Estimator(ImportanceSettings? s) =>
        ConceptImportances.Create(string.IsNullOrEmpty(s?.Method) ? "sobol" : s.Method, Options(s), "config.importance.method");

    /// <summary>"importance" when sent, else the estimator's output on coefficients, targets and head.</summary>
    static Tensor ImportanceOf(ExplainInputs inputs, ImportanceSettings? settings)
    {
        if (inputs.Optional("importance") is { } given) return ExplainTensors.Matrix(given, "importance");
        var u = inputs.Coefficients();
        var targets = inputs.Indices("targets", u.shape[0]);
        return Estimator(settings).Explain(inputs.Head(u.shape[1]), u, targets);
    }

    static async Task WriteBlocks(Tensor t, string name, IServerStreamWriter<TensorBlock> output, CancellationToken ct)
    {
        foreach (var b in TensorStreams.Split(t, name, null, TensorBlocks.DefaultMaxBlockBytes))
        {
            ct.ThrowIfCancellationRequested();
            await output.WriteAsync(b, ct);
        }
    }

    public override async Task ConceptImportance(IAsyncStreamReader<ConceptImportanceRequest> requestStream, IServerStreamWriter<TensorBlock> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var (cfg, inputs) = await ExplainInputs.ReadAsync(requestStream, r => r.Config, r => r.Block, c => c.ArtifactId, store, ct);
        using var _ = inputs;
        // Dispose scopes are per thread: the scope closes before the writes' awaits, and the result is owned by `using`.
        Tensor phi;
        using (torch.NewDisposeScope())
        {
            var estimator = Estimator(cfg.Importance);
            inputs.UseModel(cfg.ModelId, store, "config.model_id");
            var u = inputs.Coefficients();
            var targets = inputs.Indices("targets", u.shape[0]);
            phi = estimator.Explain(inputs.Head(u.shape[1]), u, targets).to_type(ScalarType.Float32).DetachFromDisposeScope();
        }
        using (phi) await WriteBlocks(phi, "importance", responseStream, ct);
    }

    public override async Task<ClassImportanceResponse> ClassImportance(IAsyncStreamReader<ClassImportanceRequest> requestStream, ServerCallContext context)
    {
        var (cfg, inputs) = await ExplainInputs.ReadAsync(requestStream, r => r.Config, r => r.Block, c => c.ArtifactId, store, context.CancellationToken);
        using var _ = inputs;
        using var scope = torch.NewDisposeScope();
        inputs.UseModel(cfg.ModelId, store, "config.model_id");
        var u = inputs.Coefficients();
        var groups = inputs.Indices(cfg.GroupByTargets ? "targets" : "labels", u.shape[0]);
        var phi = ImportanceOf(inputs, cfg.Importance);
        var report = ClassConceptReport.Compute(phi, u, groups, cfg.ClassIndex, cfg.PresenceThreshold);
        var response = new ClassImportanceResponse { ClassIndex = report.Class, Samples = report.Samples };
        response.Importance.AddRange(report.Importance);
        response.Prevalence.AddRange(report.Prevalence);
        response.Reliability.AddRange(report.Reliability);
        if (cfg.Clusters < 0) throw new InvalidInputException("config.clusters", "must be ≥ 0");
        if (cfg.Clusters > 0)
        {
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
        }
        return response;
    }

    public override async Task AttributionMaps(IAsyncStreamReader<AttributionMapsRequest> requestStream, IServerStreamWriter<TensorBlock> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var (cfg, inputs) = await ExplainInputs.ReadAsync(requestStream, r => r.Config, r => r.Block, c => c.ArtifactId, store, ct);
        using var _ = inputs;
        var activations = inputs.Require("activations");
        var bank = inputs.Require("dictionary");
        if (cfg.ImageHeight < 1 || cfg.ImageWidth < 1) throw new InvalidInputException("config.image_height", "image_height and image_width must be positive");
        // Row blocks keep the upsampled maps of a few samples in memory at a time.
        long n = activations.shape[0];
        long perBlock = Math.Max(1, (TensorBlocks.DefaultMaxBlockBytes / 4) / Math.Max(1, (cfg.Concepts.Count > 0 ? cfg.Concepts.Count : bank.shape[0]) * cfg.ImageHeight * cfg.ImageWidth));
        for (long s = 0; s < Math.Max(n, 1); s += perBlock)
        {
            ct.ThrowIfCancellationRequested();
            Tensor maps;
            using (torch.NewDisposeScope())
            {
                var rows = activations.dim() >= 1 && n > 0 ? activations.narrow(0, s, Math.Min(perBlock, n - s)) : activations;
                maps = ConceptActivationMaps.Compute(rows, bank, cfg.Concepts.ToArray(), cfg.ImageHeight, cfg.ImageWidth).to_type(ScalarType.Float32).DetachFromDisposeScope();
            }
            using (maps)
                foreach (var b in TensorStreams.Split(maps, "maps", null, TensorBlocks.DefaultMaxBlockBytes, s, n))
                    await responseStream.WriteAsync(b, ct);
            if (n == 0) break;
        }
    }

    public override async Task<FidelityResponse> Fidelity(IAsyncStreamReader<FidelityRequest> requestStream, ServerCallContext context)
    {
        var (cfg, inputs) = await ExplainInputs.ReadAsync(requestStream, r => r.Config, r => r.Block, c => c.ArtifactId, store, context.CancellationToken);
        using var _ = inputs;
        using var scope = torch.NewDisposeScope();
        inputs.UseModel(cfg.ModelId, store, "config.model_id");
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
    }

    public override async Task<ConceptTrustResponse> ConceptTrust(IAsyncStreamReader<ConceptTrustRequest> requestStream, ServerCallContext context)
    {
        var (cfg, inputs) = await ExplainInputs.ReadAsync(requestStream, r => r.Config, r => r.Block, c => c.ArtifactId, store, context.CancellationToken);
        using var _ = inputs;
        using var scope = torch.NewDisposeScope();
        inputs.UseModel(cfg.ModelId, store, "config.model_id");
        var phi = ImportanceOf(inputs, cfg.Importance);
        var labels = inputs.Indices("labels", phi.shape[0]);
        var conceptLabels = inputs.Require("concept_labels");
        int topK = cfg.TopK > 0 ? cfg.TopK : Math.Min(3, (int)phi.shape[1]);
        int classes = cfg.Classes > 0 ? cfg.Classes : (int)(labels.DefaultIfEmpty(0).Max() + 1);
        var gi = Metrics.ConceptTrust.GlobalImportance(phi, labels, classes);
        var top = cfg.ClassLevel ? Metrics.ConceptTrust.ClassTopConcepts(gi, labels, topK) : null;
        var response = new ConceptTrustResponse
        {
            GlobalImportance = TensorCodec.ToMessageCopy(ExplainTensors.FromArray2D(gi)),
            Existence = Metrics.ConceptTrust.Existence(phi, conceptLabels, topK, top),
        };
        if (inputs.Has("concept_masks"))
        {
            var masks = inputs.Require("concept_masks");
            if (masks.dim() != 4) throw new InvalidInputException("concept_masks", $"expected [N, K, H, W], got rank {masks.dim()}");
            var maps = inputs.Optional("maps")
                ?? ConceptActivationMaps.Compute(inputs.Require("activations"), inputs.Require("dictionary"), [], masks.shape[2], masks.shape[3]);
            response.Location = Metrics.ConceptTrust.Location(phi, conceptLabels, maps, masks, topK, top, cfg.LocationAllRelied, cfg.LocationChanceCorrected);
        }
        return response;
    }

    public override async Task<CompareRepresentationsResponse> CompareRepresentations(IAsyncStreamReader<CompareRepresentationsRequest> requestStream, ServerCallContext context)
    {
        var (cfg, inputs) = await ExplainInputs.ReadAsync(requestStream, r => r.Config, r => r.Block, c => c.ArtifactId, store, context.CancellationToken);
        using var _ = inputs;
        using var scope = torch.NewDisposeScope();
        var a = inputs.Require("a");
        var b = inputs.Require("b");
        var options = new SimilarityOptions
        {
            RbfBandwidthFraction = cfg.RbfBandwidthFraction > 0 ? cfg.RbfBandwidthFraction : 1.0,
            BatchSize = cfg.BatchSize > 0 ? cfg.BatchSize : 256,
            Seed = cfg.Seed,
            KeepVariance = cfg.SvccaKeepVariance > 0 ? cfg.SvccaKeepVariance : 0.99,
        };
        var methods = cfg.Similarities.Select(name => RepresentationSimilarities.Create(name, options, "config.similarities")).ToList();
        // Validate both sides once against the strictest estimator before computing anything.
        ExplainTensors.Pair(a, b, methods.Select(m => m.MinSamples).DefaultIfEmpty(2).Max());
        var response = new CompareRepresentationsResponse();
        foreach (var m in methods)
        {
            context.CancellationToken.ThrowIfCancellationRequested();
            response.Similarities[m.Name] = m.Score(a, b);
        }
        if (cfg.MatchUnits)
        {
            var corr = UnitCorrelation.Compute(a, b);
            var match = UnitMatching.FromCorrelation(ExplainTensors.ToArray2D(corr));
            var r = new UnitMatchingResult { Correlation = TensorCodec.ToMessageCopy(corr), MeanMatchedCorrelation = match.MeanMatched };
            r.Partner.AddRange(match.Partner);
            r.PartnerCorrelation.AddRange(match.Correlation);
            r.SemiPartner.AddRange(match.SemiPartner);
            r.SemiCorrelation.AddRange(match.SemiCorrelation);
            response.Matching = r;
        }
        if (cfg.SparseAlpha < 0) throw new InvalidInputException("config.sparse_alpha", "must be ≥ 0");
        if (cfg.SparseAlpha > 0)
        {
            var sp = new SparsePrediction(cfg.SparseAlpha).Fit(a, b);
            var r = new SparsePredictionResult { Weights = TensorCodec.ToMessageCopy(ExplainTensors.FromArray2D(sp.Weights)) };
            r.R2.AddRange(sp.R2);
            r.Nonzero.AddRange(sp.NonZero);
            response.SparsePrediction = r;
        }
        if (cfg.SpectralGroups < 0) throw new InvalidInputException("config.spectral_groups", "must be ≥ 0");
        if (cfg.SpectralGroups > 0)
        {
            var sc = new UnitSpectralClustering(cfg.SpectralGroups, (int)cfg.Seed).Fit(a, b);
            var r = new SpectralGroupsResult();
            r.LabelsA.AddRange(sc.LabelsA);
            r.LabelsB.AddRange(sc.LabelsB);
            response.SpectralGroups = r;
        }
        return response;
    }

    public override async Task IntrinsicDimension(IAsyncStreamReader<IntrinsicDimensionRequest> requestStream, IServerStreamWriter<JobEvent> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var (cfg, inputs) = await ExplainInputs.ReadAsync(requestStream, r => r.Config, r => r.Block, c => c.ArtifactId, store, ct);
        using var _ = inputs;
        // Validate everything before the job starts.
        var trainer = new SubspaceTraining(string.IsNullOrEmpty(cfg.Projection) ? "dense" : cfg.Projection,
            cfg.Steps > 0 ? cfg.Steps : 1500, cfg.LearningRate > 0 ? cfg.LearningRate : 0.1, cfg.Threshold > 0 ? cfg.Threshold : 0.9, cfg.Seed);
        if (cfg.Dims.Count == 0) throw new InvalidInputException("config.dims", "is empty");
        if (cfg.Dims.Any(d => d < 1)) throw new InvalidInputException("config.dims", "every dimension must be at least 1");
        ISubspaceProblem problem;
        string contentHash;
        switch (cfg.Problem)
        {
            case "linear_constraints":
                problem = new LinearConstraintsProblem(cfg.Parameters > 0 ? cfg.Parameters : 1000, cfg.Constraints > 0 ? cfg.Constraints : 10);
                contentHash = "";
                break;
            case "classifier":
                var x = inputs.Require("features");
                var y = inputs.Indices("labels", x.shape[0]);
                if (cfg.Hidden < 0) throw new InvalidInputException("config.hidden", "must be ≥ 0");
                problem = new ClassifierProblem(x, y, cfg.Hidden, seed: cfg.Seed);
                contentHash = Convert.ToHexString(SHA256.HashData(TensorCodec.Contiguous(x.to_type(ScalarType.Float64)).bytes))
                    + Convert.ToHexString(SHA256.HashData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(y.AsSpan())));
                break;
            default:
                throw new InvalidInputException("config.problem", $"unknown problem '{cfg.Problem}'; known: classifier, linear_constraints");
        }
        var key = JobRunner.KeyFor(cfg.Job?.JobKey ?? "", "explain.intrinsic_dimension", JsonFormatter.Default.Format(cfg), contentHash);
        await runners.For(ExplainStage.Name).RunAsync(key, async ctx =>
        {
            var result = await Task.Run(() => trainer.Sweep(problem, cfg.Dims.ToArray(), (done, total) => ctx.Progress(done, total, "training runs", "sweep"), ctx.CancellationToken), ctx.CancellationToken);
            var tensors = new Dictionary<string, Tensor>
            {
                ["dims"] = torch.tensor(result.Dims),
                ["performance"] = torch.tensor(result.Performance),
            };
            var meta = JsonSerializer.Serialize(new
            {
                problem = cfg.Problem, projection = trainer.Projection, threshold = trainer.Threshold,
                full_performance = result.FullPerformance, d_int = result.IntrinsicDimension, parameters = result.Parameters,
            });
            var info = await ctx.Store.PutAsync("report", tensors, meta, new Dictionary<string, string> { ["stage"] = ExplainStage.Name, ["report"] = "intrinsic_dimension" }, ctx.CancellationToken);
            foreach (var t in tensors.Values) t.Dispose();
            return new JobOutcome(info, new Dictionary<string, double>
            {
                ["d_int"] = result.IntrinsicDimension ?? -1,
                ["full_performance"] = result.FullPerformance,
                ["parameters"] = result.Parameters,
            });
        }, responseStream, ct);
    }
}
