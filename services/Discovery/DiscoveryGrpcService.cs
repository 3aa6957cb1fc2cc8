using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Hosting;
using ConceptSuite.Core.Jobs;
using ConceptSuite.Core.Limits;
using Google.Protobuf;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Core.Methods;
using ConceptSuite.Core.Streaming;
using ConceptSuite.Discovery.Abstractions;
using ConceptSuite.Discovery.Fitting;
using ConceptSuite.Discovery.Methods;
using ConceptSuite.Discovery.Naming;
using Grpc.Core;
using Microsoft.Extensions.Options;
using TorchSharp;

namespace ConceptSuite.Discovery;

/// <summary>
/// conceptsuite.v1.DiscoveryService: validates, calls the methods, streams results. Fit runs as
/// a job (JobRunner: bounded concurrency, checkpoints, resume by key, cached results).
/// </summary>
public sealed class DiscoveryGrpcService(ArtifactStore store, JobRunners runners, FitJobs fits, MethodCatalog catalog,
    IOptions<SuiteOptions> suite, RequestBudget budget) : DiscoveryService.DiscoveryServiceBase
{
    const string DefaultTensor = ActivationSpool.Tensor;

    public override async Task Fit(IAsyncStreamReader<FitRequest> requestStream, IServerStreamWriter<JobEvent> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var (config, blocks) = await ConfigFirstStream.ReadAsync(requestStream, r => r.Config, r => r.Block, ct);
        var plans = fits.Plan(config);
        var tensor = string.IsNullOrEmpty(config.Tensor) ? DefaultTensor : config.Tensor;
        if (config.EvalSamples < 0) throw new InvalidInputException("config.eval_samples", "must be >= 0");

        string dataId;
        DataStats stats;
        bool spooled = false;
        if (config.Activations is { Id.Length: > 0 } a)
        {
            await using (var more = blocks.GetAsyncEnumerator(ct))
                if (await more.MoveNextAsync())
                    throw new InvalidInputException("block", "blocks may not follow a config that names an activation artifact");
            var src = new ArtifactRowSource(store, a.Id, tensor, "config.activations");
            stats = RowSources.Scan(src, "config.activations", ct);
            dataId = a.Id;
        }
        else
        {
            (dataId, stats, spooled) = await ActivationSpool.WriteAsync(store, blocks, suite.Value.MaxStreamBytes, ct);
        }
        try
        {
            FitJobs.Validate(plans, stats);
            var data = new ArtifactRowSource(store, dataId, config.Activations is { Id.Length: > 0 } ? tensor : DefaultTensor, "config.activations");
            IRowSource? validation = null;
            if (config.Validation is { Id.Length: > 0 } v)
            {
                validation = new ArtifactRowSource(store, v.Id, string.IsNullOrEmpty(config.ValidationTensor) ? DefaultTensor : config.ValidationTensor, "config.validation");
                var vstats = RowSources.Scan(validation, "config.validation", ct);
                if (vstats.Dim != stats.Dim)
                    throw new InvalidInputException("config.validation", $"samples have width {vstats.Dim}; the training activations have {stats.Dim}");
            }
            else if (!string.IsNullOrEmpty(config.ValidationTensor))
                throw new InvalidInputException("config.validation_tensor", "is set but config.validation names no artifact");
            var paired = PairedSource(config, plans, stats, ct);

            var jobConfig = config.Clone();
            jobConfig.Job = null;
            jobConfig.Activations = null;
            var key = JobRunner.KeyFor(config.Job?.JobKey ?? "", "discovery.fit", Google.Protobuf.JsonFormatter.Default.Format(jobConfig), dataId, tensor);
            await runners.For(DiscoveryStage.Name).RunAsync(key,
                job => fits.RunAsync(job, plans, data, dataId, tensor, config, validation, paired, paired is null ? "" : config.PairedActivations.Id), responseStream, ct);
        }
        catch when (spooled)
        {
            // A failed or cancelled fit leaves no activations behind that this call uploaded (a rerun
            // streams them again; the content-derived id and the job key stay the same).
            store.Delete(dataId);
            throw;
        }
    }

    /// <summary>
    /// The paired modality's rows when a planned method needs them (trait "paired"): an "activations"
    /// artifact with as many samples as the activations, each paired plan validated against both and
    /// its working memory checked against the per-call budget before anything is read into memory.
    /// INVALID_ARGUMENT naming config.paired_activations when it is missing, dangling, of another kind
    /// or another row count.
    /// </summary>
    IRowSource? PairedSource(FitConfig config, IReadOnlyList<PlannedDictionary> plans, DataStats stats, CancellationToken ct)
    {
        var pairedPlans = plans.Where(p => DictionaryMethods.IsPaired(p.Entry)).ToList();
        if (config.PairedActivations is not { Id.Length: > 0 } pa)
        {
            if (pairedPlans.Count > 0)
                throw new InvalidInputException("config.paired_activations", $"is required by config.dictionaries[{pairedPlans[0].Index}] (method {pairedPlans[0].Method} fits on two paired modalities)");
            if (!string.IsNullOrEmpty(config.PairedTensor))
                throw new InvalidInputException("config.paired_tensor", "is set but config.paired_activations names no artifact");
            return null;
        }
        if (pairedPlans.Count == 0)
            throw new InvalidInputException("config.paired_activations", "is set but no dictionary uses a paired method (cocca, scocca)");
        using (var reader = store.Open(pa.Id, "config.paired_activations.id"))
            if (reader.Info.Ref.Kind != ActivationSpool.Kind)
                throw new InvalidInputException("config.paired_activations", $"artifact {pa.Id} is a '{reader.Info.Ref.Kind}', not '{ActivationSpool.Kind}'");
        var paired = new ArtifactRowSource(store, pa.Id, string.IsNullOrEmpty(config.PairedTensor) ? DefaultTensor : config.PairedTensor, "config.paired_activations");
        if (paired.Samples != stats.Samples)
            throw new InvalidInputException("config.paired_activations", $"has {paired.Samples} samples; the activations have {stats.Samples} (rows must pair one to one)");
        foreach (var p in pairedPlans)
        {
            using var d = (IPairedDictionary)p.Create();
            budget.Bytes($"config.dictionaries[{p.Index}]", d.WorkingBytes(stats.Samples, stats.Dim, paired.Dim));
        }
        var pstats = RowSources.Scan(paired, "config.paired_activations", ct);
        foreach (var p in pairedPlans)
        {
            using var d = (IPairedDictionary)p.Create();
            try { d.ValidatePaired(stats, pstats); }
            catch (InvalidInputException e) when (e.Field != pstats.Field)
            {
                throw new InvalidInputException($"config.dictionaries[{p.Index}].{e.Field}", e.Rule);
            }
        }
        return paired;
    }

    public override Task Encode(IAsyncStreamReader<EncodeRequest> requestStream, IServerStreamWriter<TensorBlock> responseStream, ServerCallContext context) =>
        TransformAsync(requestStream, responseStream, context, r => r.Config, c => (c.Dictionary, c.Modality), r => r.Block, encode: true);

    public override Task Decode(IAsyncStreamReader<DecodeRequest> requestStream, IServerStreamWriter<TensorBlock> responseStream, ServerCallContext context) =>
        TransformAsync(requestStream, responseStream, context, r => r.Config, c => (c.Dictionary, c.Modality), r => r.Block, encode: false);

    async Task TransformAsync<T, TConfig>(IAsyncStreamReader<T> requestStream, IServerStreamWriter<TensorBlock> responseStream, ServerCallContext context,
        Func<T, TConfig?> config, Func<TConfig, (DictionaryRef? Dictionary, string Modality)> parts, Func<T, TensorBlock?> block, bool encode) where TConfig : class
    {
        var ct = context.CancellationToken;
        var (cfg, blocks) = await ConfigFirstStream.ReadAsync(requestStream, config, block, ct);
        var (dref, modality) = parts(cfg);
        var (meta, loaded) = DictionaryArtifacts.Load(store, dref, "config.dictionary");
        using var _ = loaded;
        var dict = modality switch
        {
            "" or "activations" => loaded,
            "paired" => loaded is IPairedDictionary two ? two.PairedSide()
                : throw new InvalidInputException("config.modality", $"'paired' needs a dictionary fitted on two modalities (cocca, scocca); {meta.Name} is {meta.Method}"),
            _ => throw new InvalidInputException("config.modality", $"must be empty, 'activations' or 'paired', got '{modality}'"),
        };
        int width = encode ? dict.InputDim : meta.Concepts;
        var validator = new TensorStreamValidator(new TensorStreamRules
        {
            Field = "blocks", RejectNonFinite = true, RequiredDType = DType.Float32, MaxTotalBytes = suite.Value.MaxStreamBytes,
        });
        long index = 0;
        await foreach (var b in blocks.WithCancellation(ct))
        {
            validator.Accept(b);
            var shape = b.Tensor.Shape.ToArray();
            if (shape.Length is < 2 or > 4)
                throw new InvalidInputException($"blocks[{index}].tensor.shape", "must be [n, D], [n, T, D] or [n, D, H, W]");
            int ch = SampleLayout.ChannelDim(shape.Length);
            if (shape[ch] != width)
                throw new InvalidInputException($"blocks[{index}].tensor.shape[{ch}]", $"must be {width} ({(encode ? (ReferenceEquals(dict, loaded) ? "the dictionary's input width" : "the dictionary's paired input width") : "n_concepts")}), got {shape[ch]}");
            var output = TensorScope.Run(() =>
            {
                using var mode = torch.inference_mode();
                var x = TensorCodec.ToTorch(b.Tensor, $"blocks[{index}].tensor");
                var samples = SampleLayout.ToSamples(x).contiguous();
                var y = encode ? dict.Encode(samples) : dict.Decode(samples);
                var shaped = SampleLayout.FromSamples(y, shape);
                var o = new TensorBlock { Name = b.Name, RowOffset = b.RowOffset, Tensor = TensorCodec.ToMessageCopy(shaped) };
                o.Ids.Add(b.Ids);
                if (b.TotalShape.Count > 0)
                {
                    o.TotalShape.Add(b.TotalShape[0]);
                    o.TotalShape.Add(shaped.shape.Skip(1));
                }
                return o;
            });
            ReceivedBlocks.Release(b); // the tensor mapped from it is gone with the scope
            await responseStream.WriteAsync(output, ct);
            index++;
        }
        validator.Complete();
    }

    public override async Task GetDictionary(GetDictionaryRequest request, IServerStreamWriter<GetDictionaryResponse> responseStream, ServerCallContext context)
    {
        var (meta, dict) = DictionaryArtifacts.Load(store, request.Dictionary, "dictionary");
        using var _ = dict;
        var info = new DictionaryInfo { Name = meta.Name, Method = meta.Method, NConcepts = meta.Concepts, InputDim = meta.InputDim, Seed = meta.Seed };
        foreach (var (k, v) in meta.Options) info.Options[k] = v;
        foreach (var (k, v) in meta.Metrics) info.Metrics[k] = v;
        await responseStream.WriteAsync(new GetDictionaryResponse { Info = info }, context.CancellationToken);
        await TensorReplies.WriteAsync(responseStream, () => [new NamedTensor("atoms", dict.Atoms().contiguous())], suite.Value.BlockBytes,
            b => new GetDictionaryResponse { Block = b }, context.CancellationToken);
    }

    public override async Task ExportDictionary(ExportDictionaryRequest request, IServerStreamWriter<ExportDictionaryResponse> responseStream, ServerCallContext context)
    {
        if (request.Format is not ("" or SaeLensFormat.Format))
            throw new InvalidInputException("format", $"must be '{SaeLensFormat.Format}' (or empty), got '{request.Format}'");
        if (request.MaxChunkBytes < 0) throw new InvalidInputException("max_chunk_bytes", "must be >= 0");
        int chunk = suite.Value.BlockBytesFor(request.MaxChunkBytes);
        var ct = context.CancellationToken;
        var (meta, dict) = DictionaryArtifacts.Load(store, request.Dictionary, "dictionary");
        string cfg;
        Dictionary<string, torch.Tensor> weights;
        using (dict) (cfg, weights) = SaeLensFormat.Export(meta, dict, "dictionary");
        try
        {
            var (header, inOrder) = SaeLensFormat.Layout(weights);
            await responseStream.WriteAsync(new ExportDictionaryResponse { CfgJson = cfg }, ct);
            for (int at = 0; at < header.Length; at += chunk)
                await responseStream.WriteAsync(new ExportDictionaryResponse { Chunk = ByteString.CopyFrom(header, at, Math.Min(chunk, header.Length - at)) }, ct);
            foreach (var t in inOrder)
            {
                var bytes = t.bytes.ToArray();
                for (int at = 0; at < bytes.Length; at += chunk)
                    await responseStream.WriteAsync(new ExportDictionaryResponse { Chunk = ByteString.CopyFrom(bytes, at, Math.Min(chunk, bytes.Length - at)) }, ct);
            }
        }
        finally { foreach (var t in weights.Values) t.Dispose(); }
    }

    public override async Task<ArtifactInfo> ImportDictionary(IAsyncStreamReader<ImportDictionaryRequest> requestStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var (header, chunks) = await ConfigFirstStream.ReadPartsAsync(requestStream, r => r.Header,
            r => r.PartCase == ImportDictionaryRequest.PartOneofCase.Chunk ? r.Chunk : null, ct, "header");
        if (header.Name.Length > 128) throw new InvalidInputException("header.name", "at most 128 characters");
        if (header.CfgJson.Length > 1 << 20) throw new InvalidInputException("header.cfg_json", "at most 1 MiB");
        budget.Bytes("header.size_bytes", header.SizeBytes);
        var file = await DeclaredBytes.ReadAsync(chunks, header.SizeBytes, "header.size_bytes", ct);
        var (meta, dict) = await Task.Run(() => SaeLensFormat.Import(header.CfgJson, file, header.Name, budget), ct);
        using (dict) return await DictionaryArtifacts.SaveAsync(store, [(meta, dict)], "", "", ct);
    }

    public override Task<ListMethodsResponse> ListMethods(ListMethodsRequest request, ServerCallContext context) =>
        Task.FromResult(catalog.List(DiscoveryStage.Name, request));

    public override Task<TopExamplesResponse> TopExamples(TopExamplesRequest request, ServerCallContext context)
    {
        int k = request.K == 0 ? 8 : request.K;
        if (k is < 1 or > 1024) throw new InvalidInputException("k", $"must be in [1, 1024], got {request.K}");
        if (request.Activations is not { Id.Length: > 0 }) throw new InvalidInputException("activations", "is required");
        var (meta, dict) = DictionaryArtifacts.Load(store, request.Dictionary, "dictionary");
        using var _ = dict;
        var tensor = string.IsNullOrEmpty(request.Tensor) ? DefaultTensor : request.Tensor;
        var src = new ArtifactRowSource(store, request.Activations.Id, tensor, "activations");
        if (src.Dim != meta.InputDim) throw new InvalidInputException("activations", $"samples have width {src.Dim}, the dictionary expects {meta.InputDim}");
        for (int i = 0; i < request.Concepts.Count; i++)
            if (request.Concepts[i] < 0 || request.Concepts[i] >= meta.Concepts)
                throw new InvalidInputException($"concepts[{i}]", $"must be in [0, {meta.Concepts}), got {request.Concepts[i]}");
        var concepts = request.Concepts.Count > 0 ? request.Concepts.ToArray() : Enumerable.Range(0, meta.Concepts).ToArray();
        var top = TopActivations.Find(dict, src, concepts, k, context.CancellationToken);
        long positions = src.Samples / Math.Max(1, src.Shape[0]);
        var r = new TopExamplesResponse
        {
            Scanned = top.Scanned, DensityMinLog10 = TopActivations.DensityMinLog10, DensityBinLog10 = TopActivations.DensityBinLog10,
        };
        for (int i = 0; i < concepts.Length; i++)
        {
            var ce = new ConceptExamples { Concept = concepts[i], Firing = top.Firing[i] };
            ce.Density.Add(top.Density[i]);
            ce.Samples.Add(top.Samples[i]);
            ce.Values.Add(top.Values[i]);
            ce.Rows.Add(top.Samples[i].Select(s => s / positions));
            r.Concepts.Add(ce);
        }
        return Task.FromResult(r);
    }

    public override async Task<NameConceptsResponse> NameConcepts(NameConceptsRequest request, ServerCallContext context) =>
        await ConceptNamer.NameAsync(store, request, context.CancellationToken);
}
