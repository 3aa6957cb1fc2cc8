using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using ConceptSuite.Bottleneck.Methods;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Concepts;
using ConceptSuite.Core.Hosting;
using ConceptSuite.Core.Jobs;
using ConceptSuite.Core.Tensors;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Options;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Bottleneck;

/// <summary>
/// Loaded bottleneck models by artifact id. Ids are content-derived, so a loaded model never
/// goes stale; the cache is bounded and simply forgets (the GC frees models no call still uses).
/// </summary>
public sealed class BottleneckModels(ArtifactStore store, Device device)
{
    const int Capacity = 32;
    readonly ConcurrentDictionary<string, ConceptModel> _cache = new();

    public ArtifactStore Store => store;
    public Device Device => device;

    /// <summary>The model; INVALID_ARGUMENT for a malformed id or a non-bottleneck artifact, NOT_FOUND when absent.</summary>
    public ConceptModel Get(string id, string field)
    {
        if (_cache.TryGetValue(id, out var m)) return m;
        var model = ConceptModel.Load(store, id, device, field);
        if (_cache.Count >= Capacity) _cache.Clear();
        return _cache.GetOrAdd(id, model);
    }
}

/// <summary>The gRPC face of the bottleneck stage (see bottleneck.proto): validate, call the model, stream.</summary>
public sealed class BottleneckGrpcService(BottleneckModels models, JobRunners runners, IOptions<SuiteOptions> options) : BottleneckService.BottleneckServiceBase
{
    const string Stage = BottleneckStage.Name;

    static readonly string[] TrainTensors =
        ["features", "labels", "concept_labels", "concept_bank", "class_embeddings", "eval_features", "eval_labels", "eval_concept_labels"];

    TensorStreamRules Rules => new() { MaxTotalBytes = options.Value.MaxStreamBytes, RejectNonFinite = true, Field = "blocks" };

    public override async Task Train(IAsyncStreamReader<TrainRequest> requestStream, IServerStreamWriter<JobEvent> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        if (!await requestStream.MoveNext(ct) || requestStream.Current.PartCase != TrainRequest.PartOneofCase.Config)
            throw new InvalidInputException("config", "the first message must carry the TrainConfig");
        var config = requestStream.Current.Config;
        var method = BottleneckMethods.Get(config.ModelType);
        var methodOptions = new MethodOptions(config.Options, method.Options);
        var received = await TensorStreams.AssembleAllAsync(Blocks(requestStream, r => r.PartCase == TrainRequest.PartOneofCase.Block ? r.Block : null, ct), Rules with { RejectEmpty = false }, ct);
        var raw = received.ToDictionary(kv => kv.Key, kv => kv.Value.Tensor);
        try
        {
            foreach (var name in raw.Keys)
                if (!TrainTensors.Contains(name)) throw new InvalidInputException("blocks", $"unknown tensor '{name}'; expected one of {string.Join(", ", TrainTensors)}");
            if (!string.IsNullOrEmpty(config.FeaturesArtifactId)) ReadFeaturesArtifact(config, raw);
            var key = JobRunner.KeyFor(config.Job?.JobKey ?? "", [Stage, "train", config.ToString(), .. raw.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + ":" + Hash(kv.Value))]);
            var data = Validate(config, method, raw);
            await runners.For(Stage).RunAsync(key, ctx => Task.FromResult(RunTraining(ctx, config, method, methodOptions, data)), responseStream, ct);
        }
        finally
        {
            foreach (var t in raw.Values) t.Dispose();
        }
    }

    JobOutcome RunTraining(JobContext ctx, TrainConfig config, IBottleneckMethod method, MethodOptions methodOptions, BottleneckData data)
    {
        using var scope = NewDisposeScope();
        ctx.Message($"training {method.Name} on {data.Features.shape[0]} rows, D={data.InputDim}, C={data.Classes}, K={data.ConceptNames.Count}");
        var fit = method.Fit(data, methodOptions, (phase, done, total) => ctx.Progress(done, total, "steps", phase), ctx.CancellationToken);
        using var fitted = fit.Model;
        var metrics = fit.Metrics;
        using (inference_mode())
        {
            if (data.EvalFeatures is { } ef && data.EvalLabels is { } el)
            {
                var f = fitted.Forward(ef);
                metrics["eval_accuracy"] = Fitting.LinearFits.Accuracy(f.Logits, el);
                if (data.EvalConceptLabels is { } ec && fitted.Spec.ConceptActivation == ConceptActivations.Sigmoid && ec.shape[1] == fitted.ConceptCount)
                    metrics["eval_concept_accuracy"] = Fitting.LinearFits.ConceptAccuracy(f.Concepts, ec);
            }
        }
        using var model = new ConceptModel(fitted.Spec with { Metrics = metrics }, fitted.Tensors);
        var info = model.SaveAsync(ctx.Store, new Dictionary<string, string> { ["job_key"] = ctx.Key }, ctx.CancellationToken).GetAwaiter().GetResult();
        ctx.Metrics(0, metrics);
        return new JobOutcome(info, metrics);
    }

    /// <summary>Checks every training tensor against the rules in bottleneck.proto and moves them to the stage's device.</summary>
    BottleneckData Validate(TrainConfig config, IBottleneckMethod method, Dictionary<string, Tensor> raw)
    {
        var device = models.Device;
        Tensor Float(string name, int rank)
        {
            var t = raw[name];
            if (!t.is_floating_point()) throw new InvalidInputException(name, $"must be a float tensor, got {t.dtype}");
            if (t.dim() != rank) throw new InvalidInputException(name, $"must have rank {rank}, got shape [{string.Join(", ", t.shape)}]");
            return t.to(ScalarType.Float32).to(device);
        }
        Tensor Labels(string name, long rows)
        {
            var t = raw[name];
            if (t.dtype is not (ScalarType.Int64 or ScalarType.Int32) || t.dim() != 1)
                throw new InvalidInputException(name, $"must be int64 [N], got {t.dtype} [{string.Join(", ", t.shape)}]");
            if (t.shape[0] != rows) throw new InvalidInputException(name, $"{t.shape[0]} labels for {rows} feature rows");
            return t.to(ScalarType.Int64).to(device);
        }
        if (!raw.ContainsKey("features")) throw new InvalidInputException("features", "required (a 'features' block stream or config.features_artifact_id)");
        if (!raw.ContainsKey("labels")) throw new InvalidInputException("labels", "required");
        var x = Float("features", 2);
        long n = x.shape[0], dim = x.shape[1];
        if (n < 2) throw new InvalidInputException("features", "needs at least 2 rows");
        var y = Labels("labels", n);
        long minLabel = y.min().item<long>(), maxLabel = y.max().item<long>();
        if (minLabel < 0) throw new InvalidInputException("labels", $"label {minLabel} is negative");
        var classNames = config.ClassNames.Count > 0 ? config.ClassNames.ToList() : ModelParts.DefaultNames("", maxLabel + 1);
        if (classNames.Distinct().Count() != classNames.Count) throw new InvalidInputException("config.class_names", "must be unique");
        if (maxLabel >= classNames.Count) throw new InvalidInputException("labels", $"label {maxLabel} is outside [0, {classNames.Count}) (config.class_names has {classNames.Count})");
        if (classNames.Count < 2) throw new InvalidInputException("labels", "needs at least 2 classes");
        var counts = y.bincount(null, classNames.Count).cpu().data<long>().ToArray();
        for (int c = 0; c < counts.Length; c++)
            if (counts[c] == 0) throw new InvalidInputException("labels", $"class '{classNames[c]}' has no samples");

        var conceptNames = config.ConceptNames.ToList();
        if (conceptNames.Distinct(StringComparer.Ordinal).Count() != conceptNames.Count) throw new InvalidInputException("config.concept_names", "must be unique");
        if (conceptNames.Any(string.IsNullOrWhiteSpace)) throw new InvalidInputException("config.concept_names", "names must be non-empty");
        Tensor? conceptLabels = null, bank = null, classEmb = null, ex = null, ey = null, ec = null;
        if (raw.ContainsKey("concept_labels"))
        {
            conceptLabels = Float("concept_labels", 2);
            if (conceptLabels.shape[0] != n) throw new InvalidInputException("concept_labels", $"{conceptLabels.shape[0]} rows for {n} feature rows");
            if (conceptLabels.min().item<float>() < 0 || conceptLabels.max().item<float>() > 1) throw new InvalidInputException("concept_labels", "values are probabilities and must be in [0, 1]");
        }
        if (raw.ContainsKey("concept_bank"))
        {
            bank = Float("concept_bank", 2);
            if (bank.shape[1] != dim) throw new InvalidInputException("concept_bank", $"has width {bank.shape[1]}, the features have {dim}");
        }
        long? k = conceptLabels?.shape[1] ?? bank?.shape[0];
        if (conceptLabels is not null && bank is not null && conceptLabels.shape[1] != bank.shape[0])
            throw new InvalidInputException("concept_bank", $"{bank.shape[0]} directions for {conceptLabels.shape[1]} concept label columns");
        if (k is { } kk && conceptNames.Count != kk)
            throw new InvalidInputException("config.concept_names", $"{conceptNames.Count} names for {kk} concepts");
        if (method.RequiresConceptLabels && conceptLabels is null) throw new InvalidInputException("concept_labels", $"model type '{method.Name}' needs a concept_labels block [N, K]");
        if (method.RequiresConceptBank && bank is null) throw new InvalidInputException("concept_bank", $"model type '{method.Name}' needs a concept_bank block [K, D]");
        if (raw.ContainsKey("class_embeddings"))
        {
            classEmb = Float("class_embeddings", 2);
            if (classEmb.shape[0] != classNames.Count || classEmb.shape[1] != dim)
                throw new InvalidInputException("class_embeddings", $"must be [{classNames.Count}, {dim}], got [{string.Join(", ", classEmb.shape)}]");
        }
        if (raw.ContainsKey("eval_features") != raw.ContainsKey("eval_labels"))
            throw new InvalidInputException("eval_labels", "eval_features and eval_labels come together");
        if (raw.ContainsKey("eval_features"))
        {
            ex = Float("eval_features", 2);
            if (ex.shape[1] != dim) throw new InvalidInputException("eval_features", $"has width {ex.shape[1]}, the features have {dim}");
            ey = Labels("eval_labels", ex.shape[0]);
            if (ey.numel() > 0 && (ey.min().item<long>() < 0 || ey.max().item<long>() >= classNames.Count))
                throw new InvalidInputException("eval_labels", $"labels must be in [0, {classNames.Count})");
            if (raw.ContainsKey("eval_concept_labels"))
            {
                ec = Float("eval_concept_labels", 2);
                if (ec.shape[0] != ex.shape[0] || (k is { } k2 && ec.shape[1] != k2))
                    throw new InvalidInputException("eval_concept_labels", $"must be [{ex.shape[0]}, {k}], got [{string.Join(", ", ec.shape)}]");
            }
        }
        return new BottleneckData(x, y, classNames, conceptNames, conceptLabels, bank, classEmb, config.Seed, ex, ey) { EvalConceptLabels = ec };
    }

    void ReadFeaturesArtifact(TrainConfig config, Dictionary<string, Tensor> raw)
    {
        if (raw.ContainsKey("features")) throw new InvalidInputException("config.features_artifact_id", "send either a features stream or an artifact id, not both");
        using var reader = models.Store.Open(config.FeaturesArtifactId, "config.features_artifact_id");
        var name = string.IsNullOrEmpty(config.FeaturesTensor) ? "activations" : config.FeaturesTensor;
        if (!reader.Has(name)) throw new InvalidInputException("config.features_tensor", $"artifact {config.FeaturesArtifactId} has no tensor '{name}'");
        raw["features"] = reader.Read(name).clone();
        if (!raw.ContainsKey("labels"))
        {
            if (!reader.Has("labels")) throw new InvalidInputException("labels", $"not sent and artifact {config.FeaturesArtifactId} has no 'labels' tensor");
            raw["labels"] = reader.Read("labels").clone();
        }
    }

    public override async Task Predict(IAsyncStreamReader<PredictRequest> requestStream, IServerStreamWriter<PredictResponse> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        if (!await requestStream.MoveNext(ct) || requestStream.Current.PartCase != PredictRequest.PartOneofCase.Config)
            throw new InvalidInputException("config", "the first message must carry the PredictConfig");
        var config = requestStream.Current.Config;
        var model = models.Get(config.ModelId, "config.model_id");
        if (config.InputsAreConcepts && model.HasResidual)
            throw new InvalidInputException("config.inputs_are_concepts", "a PCBM-h model needs the inputs for its residual; send inputs");
        long width = config.InputsAreConcepts ? model.ConceptCount : model.InputDim;
        var rules = Rules with { RequiredRank = 2, RequiredDType = DType.Float32 };
        await foreach (var view in TensorStreams.ReadAsync(Blocks(requestStream, r => r.PartCase == PredictRequest.PartOneofCase.Block ? r.Block : null, ct), rules, ct: ct))
        {
            (string, Tensor)[] outputs;
            using (var block = view.Tensor)
            {
                if (block.shape[1] != width)
                    throw new InvalidInputException("blocks", $"rows have width {block.shape[1]}, the model takes {width} ({(config.InputsAreConcepts ? "concepts" : "input features")})");
                outputs = PredictBlock(model, block, config.InputsAreConcepts);
            }
            await WriteAll(responseStream, b => new PredictResponse { Block = b }, outputs, view.RowOffset, -1);
        }
    }

    // Tensor work stays synchronous: dispose scopes are per thread and must not span an await.
    (string, Tensor)[] PredictBlock(ConceptModel model, Tensor block, bool inputsAreConcepts)
    {
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        var x = block.to(models.Device);
        Tensor concepts, logits;
        if (inputsAreConcepts) { concepts = x.clone(); logits = model.Logits(x); }
        else { var f = model.Forward(x); concepts = f.Concepts; logits = f.Logits; }
        return Detach(("logits", logits), ("concepts", concepts), ("predictions", logits.argmax(1)));
    }

    public override async Task Intervene(IAsyncStreamReader<InterveneRequest> requestStream, IServerStreamWriter<InterveneResponse> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        if (!await requestStream.MoveNext(ct) || requestStream.Current.PartCase != InterveneRequest.PartOneofCase.Config)
            throw new InvalidInputException("config", "the first message must carry the InterveneConfig");
        var config = requestStream.Current.Config;
        var model = models.Get(config.ModelId, "config.model_id");
        if (config.Concepts.Count == 0) throw new InvalidInputException("config.concepts", "name at least one concept");
        var indices = config.Concepts.Select(c => model.ConceptIndex(c, "config.concepts")).ToList();
        if (indices.Distinct().Count() != indices.Count) throw new InvalidInputException("config.concepts", "names a concept twice");
        var received = await TensorStreams.AssembleAllAsync(Blocks(requestStream, r => r.PartCase == InterveneRequest.PartOneofCase.Block ? r.Block : null, ct), Rules, ct);
        (string, Tensor)[] outputs;
        try { outputs = InterveneAll(model, config, indices, received); }
        finally { foreach (var (t, _) in received.Values) t.Dispose(); }
        await WriteAll(responseStream, b => new InterveneResponse { Block = b }, outputs);
    }

    (string, Tensor)[] InterveneAll(ConceptModel model, InterveneConfig config, List<int> indices, Dictionary<string, (Tensor Tensor, List<string> Ids)> received)
    {
        using var scope = NewDisposeScope();
        foreach (var name in received.Keys)
            if (name is not ("inputs" or "values")) throw new InvalidInputException("blocks", $"unknown tensor '{name}'; expected inputs, values");
        var x = Inputs(received, model);
        Tensor values;
        if (received.TryGetValue("values", out var v)) values = v.Tensor.to(ScalarType.Float32);
        else if (config.Values.Count == indices.Count) values = tensor(config.Values.ToArray());
        else throw new InvalidInputException("config.values", $"send a 'values' block [N, {indices.Count}] or {indices.Count} config values (got {config.Values.Count})");
        using var mode = inference_mode();
        var before = model.Forward(x).Logits;
        var (concepts, after) = model.Intervene(x, indices, values.to(models.Device), "values");
        return Detach(("concepts", concepts), ("logits", after), ("predictions", after.argmax(1)), ("original_logits", before), ("original_predictions", before.argmax(1)));
    }

    public override async Task Contributions(IAsyncStreamReader<ContributionsRequest> requestStream, IServerStreamWriter<ContributionsResponse> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        if (!await requestStream.MoveNext(ct) || requestStream.Current.PartCase != ContributionsRequest.PartOneofCase.Config)
            throw new InvalidInputException("config", "the first message must carry the ContributionsConfig");
        var config = requestStream.Current.Config;
        var model = models.Get(config.ModelId, "config.model_id");
        var received = await TensorStreams.AssembleAllAsync(Blocks(requestStream, r => r.PartCase == ContributionsRequest.PartOneofCase.Block ? r.Block : null, ct), Rules, ct);
        (string, Tensor)[] outputs;
        try { outputs = ContributionsAll(model, config, received); }
        finally { foreach (var (t, _) in received.Values) t.Dispose(); }
        await WriteAll(responseStream, b => new ContributionsResponse { Block = b }, outputs);
    }

    (string, Tensor)[] ContributionsAll(ConceptModel model, ContributionsConfig config, Dictionary<string, (Tensor Tensor, List<string> Ids)> received)
    {
        using var scope = NewDisposeScope();
        foreach (var name in received.Keys)
            if (name is not ("inputs" or "classes")) throw new InvalidInputException("blocks", $"unknown tensor '{name}'; expected inputs, classes");
        var x = Inputs(received, model);
        using var mode = inference_mode();
        var f = model.Forward(x);
        Tensor classes;
        if (received.TryGetValue("classes", out var c))
        {
            classes = c.Tensor;
            if (classes.dtype is not (ScalarType.Int64 or ScalarType.Int32) || classes.dim() != 1 || classes.shape[0] != x.shape[0])
                throw new InvalidInputException("classes", $"must be int64 [{x.shape[0]}], got {classes.dtype} [{string.Join(", ", classes.shape)}]");
            classes = classes.to(ScalarType.Int64).to(models.Device);
            if (classes.min().item<long>() < 0 || classes.max().item<long>() >= model.ClassCount)
                throw new InvalidInputException("classes", $"class indices must be in [0, {model.ClassCount})");
        }
        else classes = f.Logits.argmax(1);
        var contributions = config.AllClasses ? model.ContributionsAll(f.Concepts) : model.Contributions(f.Concepts, classes);
        var bias = model.HeadBias.index_select(0, classes);
        var residual = f.ResidualLogits is { } r ? r.gather(1, classes.unsqueeze(1)).squeeze(1) : zeros(x.shape[0], device: x.device);
        return Detach(("contributions", contributions), ("classes", classes.clone()), ("bias", bias), ("residual", residual), ("logits", f.Logits));
    }

    public override async Task<BottleneckModelInfo> Edit(EditRequest request, ServerCallContext context)
    {
        var model = models.Get(request.ModelId, "model_id");
        if (request.Edits.Count == 0) throw new InvalidInputException("edits", "at least one edit is required");
        var factors = new Dictionary<int, double>();
        for (int i = 0; i < request.Edits.Count; i++)
        {
            var e = request.Edits[i];
            var k = model.ConceptIndex(e.Concept, $"edits[{i}].concept");
            if (!double.IsFinite(e.Factor) || e.Factor < 0) throw new InvalidInputException($"edits[{i}].factor", $"{e.Factor} must be finite and >= 0");
            if (!factors.TryAdd(k, e.Factor)) throw new InvalidInputException($"edits[{i}].concept", $"'{e.Concept}' is edited twice");
        }
        using var edited = model.Edit(factors);
        var info = await edited.SaveAsync(models.Store, new Dictionary<string, string> { ["edited_from"] = request.ModelId }, context.CancellationToken);
        return Describe(info, edited.Spec);
    }

    public override Task<BottleneckModelInfo> GetModel(GetBottleneckModelRequest request, ServerCallContext context)
    {
        var model = models.Get(request.ModelId, "model_id");
        return Task.FromResult(Describe(models.Store.GetInfo(request.ModelId, "model_id"), model.Spec));
    }

    public override Task<ListModelTypesResponse> ListModelTypes(ListModelTypesRequest request, ServerCallContext context)
    {
        var r = new ListModelTypesResponse();
        foreach (var m in BottleneckMethods.All)
        {
            var t = new ModelTypeInfo
            {
                Name = m.Name, Description = m.Description, Paper = m.Paper,
                RequiresConceptLabels = m.RequiresConceptLabels, RequiresConceptBank = m.RequiresConceptBank,
            };
            t.Options.Add(m.Options.Select(o => new ModelOption { Name = o.Name, DefaultValue = o.Default, Description = o.Description }));
            r.ModelTypes.Add(t);
        }
        return Task.FromResult(r);
    }

    public override async Task Export(ExportRequest request, IServerStreamWriter<ExportResponse> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        if (request.MaxChunkBytes < 0) throw new InvalidInputException("max_chunk_bytes", "must be >= 0");
        var model = models.Get(request.ModelId, "model_id");
        int chunk = request.MaxChunkBytes == 0 ? options.Value.BlockBytes : (int)Math.Min(request.MaxChunkBytes, options.Value.BlockBytes);
        var path = Path.Combine(models.Store.Root, request.ModelId, "tensors.safetensors");
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        long total = file.Length;
        await responseStream.WriteAsync(new ExportResponse { SpecJson = model.Spec.ToJson(), TotalBytes = total }, ct);
        var buffer = new byte[chunk];
        long offset = 0;
        while (offset < total)
        {
            int n = await file.ReadAsync(buffer.AsMemory(0, (int)Math.Min(chunk, total - offset)), ct);
            if (n <= 0) throw new InvalidDataException($"artifact {request.ModelId} is truncated");
            await responseStream.WriteAsync(new ExportResponse { SafetensorsChunk = ByteString.CopyFrom(buffer, 0, n), Offset = offset, TotalBytes = total }, ct);
            offset += n;
        }
    }

    Tensor Inputs(Dictionary<string, (Tensor Tensor, List<string> Ids)> received, ConceptModel model)
    {
        if (!received.TryGetValue("inputs", out var inputs)) throw new InvalidInputException("inputs", "required: blocks named 'inputs' [N, D]");
        var x = inputs.Tensor;
        if (!x.is_floating_point() || x.dim() != 2 || x.shape[1] != model.InputDim)
            throw new InvalidInputException("inputs", $"must be float [N, {model.InputDim}], got {x.dtype} [{string.Join(", ", x.shape)}]");
        return x.to(ScalarType.Float32).to(models.Device);
    }

    /// <summary>Contiguous CPU copies owned by no dispose scope (the caller disposes them after writing).</summary>
    static (string, Tensor)[] Detach(params (string Name, Tensor Tensor)[] tensors) =>
        tensors.Select(t => (t.Name, t.Tensor.cpu().contiguous().clone().DetachFromDisposeScope())).ToArray();

    /// <summary>Streams each tensor as ~BlockBytes blocks, then disposes the tensors.</summary>
    async Task WriteAll<T>(IServerStreamWriter<T> stream, Func<TensorBlock, T> wrap, (string Name, Tensor Tensor)[] tensors, long rowOffset = 0, long? totalRows = null)
    {
        try
        {
            foreach (var (name, t) in tensors)
                foreach (var b in TensorStreams.Split(t, name, null, options.Value.BlockBytes, rowOffset, totalRows))
                    await stream.WriteAsync(wrap(b));
        }
        finally
        {
            foreach (var (_, t) in tensors) t.Dispose();
        }
    }

    static string Hash(Tensor t)
    {
        var c = TensorCodec.Contiguous(t);
        return Convert.ToHexStringLower(SHA256.HashData(c.bytes)) + string.Join(",", c.shape) + c.dtype;
    }

    static BottleneckModelInfo Describe(ArtifactInfo info, ConceptModelSpec spec)
    {
        var r = new BottleneckModelInfo
        {
            Artifact = info, ModelType = spec.ModelType, InputDim = spec.InputDim, ConceptActivation = spec.ConceptActivation,
            HasResidual = spec.HasResidual, SpecJson = spec.ToJson(),
        };
        r.ConceptNames.Add(spec.ConceptNames);
        r.ClassNames.Add(spec.ClassNames);
        foreach (var (k, v) in spec.Metrics) r.Metrics[k] = v;
        foreach (var (k, v) in spec.Edits) r.Edits[k] = v;
        return r;
    }

    /// <summary>The blocks after the config; a second config or an empty part is bad input.</summary>
    static async IAsyncEnumerable<TensorBlock> Blocks<T>(IAsyncStreamReader<T> reader, Func<T, TensorBlock?> block, [EnumeratorCancellation] CancellationToken ct)
    {
        while (await reader.MoveNext(ct))
            yield return block(reader.Current) ?? throw new InvalidInputException("config", "sent more than once; later messages must be blocks");
    }
}
