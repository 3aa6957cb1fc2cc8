using ConceptSuite.Bottleneck.Inference;
using ConceptSuite.Bottleneck.Training;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Concepts;
using ConceptSuite.Core.Hosting;
using ConceptSuite.Core.Limits;
using ConceptSuite.Core.Jobs;
using ConceptSuite.Core.Methods;
using ConceptSuite.Core.Streaming;
using ConceptSuite.Core.Tensors;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace ConceptSuite.Bottleneck;

/// <summary>The gRPC face of the bottleneck stage (see bottleneck.proto): validate, dispatch to the job or the model, stream.</summary>
public sealed class BottleneckGrpcService(BottleneckModels models, JobRunners runners, MethodCatalog catalog, RequestBudget budget, IOptions<SuiteOptions> options)
    : BottleneckService.BottleneckServiceBase
{
    const string Stage = BottleneckStage.Name;

    TensorStreamRules Rules => new() { MaxTotalBytes = options.Value.MaxStreamBytes, RejectNonFinite = true, Field = "blocks" };

    int BlockBytes => options.Value.BlockBytes;

    public override Task<ListMethodsResponse> ListMethods(ListMethodsRequest request, ServerCallContext context) =>
        Task.FromResult(catalog.List(Stage, request));

    public override async Task Train(IAsyncStreamReader<TrainRequest> requestStream, IServerStreamWriter<JobEvent> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var (config, blocks) = await ConfigFirstStream.ReadAsync(requestStream, r => r.Config, r => r.Block, ct);
        var job = new BottleneckTrainJob(config, models);
        var received = await TensorStreams.AssembleAllAsync(blocks, Rules with { RejectEmpty = false }, ct);
        var raw = received.ToDictionary(kv => kv.Key, kv => kv.Value.Tensor);
        try
        {
            var (key, data) = job.Prepare(raw, Stage, budget);
            await runners.For(Stage).RunAsync(key, ctx => Task.FromResult(job.Run(ctx, data)), responseStream, ct);
        }
        finally
        {
            foreach (var t in raw.Values) t.Dispose();
        }
    }

    public override async Task Predict(IAsyncStreamReader<PredictRequest> requestStream, IServerStreamWriter<PredictResponse> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var (config, blocks) = await ConfigFirstStream.ReadAsync(requestStream, r => r.Config, r => r.Block, ct);
        var model = models.Get(config.Model, "config.model");
        if (config.InputsAreConcepts && model.HasResidual)
            throw new InvalidInputException("config.inputs_are_concepts", "a PCBM-h model needs the inputs for its residual; send inputs");
        if (config.InputsAreConcepts && model.IsEnergy)
            throw new InvalidInputException("config.inputs_are_concepts", "an energy head needs the inputs for its class and concept energies; send inputs");
        long width = config.InputsAreConcepts ? model.ConceptCount : model.InputDim;
        var rules = Rules with { RequiredRank = 2, RequiredDType = DType.Float32 };
        await foreach (var view in TensorStreams.ReadAsync(blocks, rules, ct: ct))
        {
            IReadOnlyList<NamedTensor> outputs;
            using (var block = view.Tensor)
            {
                if (block.shape[1] != width)
                    throw new InvalidInputException("blocks", $"rows have width {block.shape[1]}, the model takes {width} ({(config.InputsAreConcepts ? "concepts" : "input features")})");
                outputs = TensorScope.KeepAll(() => BottleneckInference.Predict(model, block, config.InputsAreConcepts, models.Device));
            }
            try
            {
                // Each answer block keeps the row offset of its input block; the total is unknown while streaming.
                foreach (var r in outputs)
                    foreach (var b in TensorStreams.Split(r.Tensor, r.Name, null, BlockBytes, view.RowOffset, -1))
                        await responseStream.WriteAsync(new PredictResponse { Block = b }, ct);
            }
            finally { foreach (var r in outputs) r.Tensor.Dispose(); }
        }
    }

    public override async Task Intervene(IAsyncStreamReader<InterveneRequest> requestStream, IServerStreamWriter<InterveneResponse> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var (config, blocks) = await ConfigFirstStream.ReadAsync(requestStream, r => r.Config, r => r.Block, ct);
        var model = models.Get(config.Model, "config.model");
        if (config.Concepts.Count == 0) throw new InvalidInputException("config.concepts", "name at least one concept");
        var indices = config.Concepts.Select(c => model.ConceptIndex(c, "config.concepts")).ToList();
        if (indices.Distinct().Count() != indices.Count) throw new InvalidInputException("config.concepts", "names a concept twice");
        var received = await TensorStreams.AssembleAllAsync(blocks, Rules, ct);
        try
        {
            await TensorReplies.WriteAsync(responseStream, () => BottleneckInference.Intervene(model, config, indices, received, models.Device),
                BlockBytes, b => new InterveneResponse { Block = b }, ct);
        }
        finally { foreach (var (t, _) in received.Values) t.Dispose(); }
    }

    public override async Task Contributions(IAsyncStreamReader<ContributionsRequest> requestStream, IServerStreamWriter<ContributionsResponse> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var (config, blocks) = await ConfigFirstStream.ReadAsync(requestStream, r => r.Config, r => r.Block, ct);
        var model = models.Get(config.Model, "config.model");
        var received = await TensorStreams.AssembleAllAsync(blocks, Rules, ct);
        try
        {
            await TensorReplies.WriteAsync(responseStream, () => BottleneckInference.Contributions(model, config, received, models.Device),
                BlockBytes, b => new ContributionsResponse { Block = b }, ct);
        }
        finally { foreach (var (t, _) in received.Values) t.Dispose(); }
    }

    public override async Task<BottleneckModelInfo> Edit(EditRequest request, ServerCallContext context)
    {
        var model = models.Get(request.Model, "model");
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
        var info = await edited.SaveAsync(models.Store, new Dictionary<string, string> { ["edited_from"] = request.Model.Id }, context.CancellationToken);
        return Describe(info, edited.Spec);
    }

    public override Task<BottleneckModelInfo> GetModel(GetBottleneckModelRequest request, ServerCallContext context)
    {
        var model = models.Get(request.Model, "model");
        return Task.FromResult(Describe(models.Store.GetInfo(request.Model.Id, "model.id"), model.Spec));
    }

    public override async Task Export(ExportRequest request, IServerStreamWriter<ExportResponse> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        if (request.MaxBlockBytes < 0) throw new InvalidInputException("max_block_bytes", "must be >= 0");
        var model = models.Get(request.Model, "model");
        int chunk = options.Value.BlockBytesFor(request.MaxBlockBytes);
        var path = Path.Combine(models.Store.Root, request.Model.Id, "tensors.safetensors");
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        long total = file.Length;
        await responseStream.WriteAsync(new ExportResponse { SpecJson = model.Spec.ToJson(), TotalBytes = total }, ct);
        var buffer = new byte[chunk];
        long offset = 0;
        while (offset < total)
        {
            int n = await file.ReadAsync(buffer.AsMemory(0, (int)Math.Min(chunk, total - offset)), ct);
            if (n <= 0) throw new InvalidDataException($"artifact {request.Model.Id} is truncated");
            await responseStream.WriteAsync(new ExportResponse { SafetensorsChunk = ByteString.CopyFrom(buffer, 0, n), Offset = offset, TotalBytes = total }, ct);
            offset += n;
        }
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
}
