using ConceptSuite.Contracts;
using ConceptSuite.Core.Hosting;
using ConceptSuite.Core.Tensors;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace ConceptSuite.Core.Artifacts;

/// <summary>The artifact store over gRPC (artifact.proto), served by every stage.</summary>
public sealed class ArtifactGrpcService(ArtifactStore store, IOptions<SuiteOptions> options, ArtifactGarbageCollector collector) : ArtifactService.ArtifactServiceBase
{
    public override Task<ArtifactInfo> GetArtifactInfo(GetArtifactInfoRequest request, ServerCallContext context) =>
        Task.FromResult(store.GetInfo(request.Id));

    public override Task<ListArtifactsResponse> ListArtifacts(ListArtifactsRequest request, ServerCallContext context)
    {
        var r = new ListArtifactsResponse();
        r.Artifacts.AddRange(store.List(request.Kind).OrderBy(a => a.Created.ToDateTime()));
        return Task.FromResult(r);
    }

    public override Task<DeleteArtifactResponse> DeleteArtifact(DeleteArtifactRequest request, ServerCallContext context)
    {
        ArtifactId.Check(request.Id);
        if (store.IsPinned(request.Id))
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"id: artifact '{request.Id}' is pinned; unpin it first (PinArtifact)"));
        return Task.FromResult(new DeleteArtifactResponse { Deleted = store.Delete(request.Id) });
    }

    public override Task<ArtifactInfo> PinArtifact(PinArtifactRequest request, ServerCallContext context) =>
        Task.FromResult(store.Pin(request.Id, request.Pinned));

    public override async Task<CollectGarbageResponse> CollectGarbage(CollectGarbageRequest request, ServerCallContext context)
    {
        if (request.MinAgeSeconds < 0) throw new InvalidInputException("min_age_seconds", "must be >= 0");
        if (request.WorkflowRetentionSeconds < 0) throw new InvalidInputException("workflow_retention_seconds", "must be >= 0");
        if (!collector.CanCollect)
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                "this process holds no workflows, so it cannot tell their artifacts from garbage; call CollectGarbage on the gateway's process"));
        var (report, released) = await collector.CollectAsync(request.DryRun,
            request.MinAgeSeconds > 0 ? TimeSpan.FromSeconds(request.MinAgeSeconds) : null,
            request.WorkflowRetentionSeconds > 0 ? TimeSpan.FromSeconds(request.WorkflowRetentionSeconds) : null,
            context.CancellationToken);
        var r = new CollectGarbageResponse { FreedBytes = report.FreedBytes, Kept = report.Kept, ReleasedWorkflows = released, SweptTemporary = report.SweptTemporary };
        r.Deleted.AddRange(report.Deleted);
        return r;
    }

    public override async Task<ArtifactInfo> PutArtifact(IAsyncStreamReader<PutArtifactRequest> requestStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        if (!await requestStream.MoveNext(ct)) throw new InvalidInputException("header", "stream is empty; the first message must be the header");
        var header = requestStream.Current.Header ?? throw new InvalidInputException("header", "the first message must be the header");
        ArtifactKinds.CheckUpload(header.Kind, context);
        using var writer = store.BeginWrite(header.Kind);
        writer.MetadataJson = string.IsNullOrEmpty(header.MetadataJson) ? "{}" : header.MetadataJson;
        foreach (var (k, v) in header.Labels) writer.Labels[k] = v;
        var validator = new TensorStreamValidator(new TensorStreamRules { MaxTotalBytes = options.Value.MaxStreamBytes });
        while (await requestStream.MoveNext(ct))
        {
            var block = requestStream.Current.Block ?? throw new InvalidInputException("block", "only the first message may be a header");
            validator.Accept(block);
            writer.AppendRows(block.Name, block.Tensor.Dtype, block.Tensor.Shape, block.Tensor.Data.Span);
        }
        validator.Complete();
        return await writer.CommitAsync(ct);
    }

    public override async Task GetArtifact(GetArtifactRequest request, IServerStreamWriter<GetArtifactResponse> responseStream, ServerCallContext context)
    {
        using var reader = store.Open(request.Id);
        var ct = context.CancellationToken;
        int budget = request.MaxBlockBytes > 0 ? (int)Math.Min(request.MaxBlockBytes, options.Value.MaxMessageBytes / 2) : options.Value.BlockBytes;
        await responseStream.WriteAsync(new GetArtifactResponse { Info = reader.Info }, ct);
        var names = request.Tensors.Count > 0 ? request.Tensors.ToList() : reader.Entries.Keys.OrderBy(n => n, StringComparer.Ordinal).ToList();
        foreach (var name in names)
        {
            var e = reader.Entry(name, "tensors");
            long per = TensorBlocks.RowsPerBlock(e.RowBytes, budget);
            if (e.Shape.Length == 0) per = 1;
            foreach (var (offset, block) in e.Shape.Length == 0 ? [(0L, reader.Read(name).reshape(1))] : reader.ReadBlocks(name, per))
            {
                using (block)
                {
                    foreach (var b in TensorStreams.Split(block, name, null, int.MaxValue, offset, e.Shape.Length == 0 ? 1 : e.Rows))
                        await responseStream.WriteAsync(new GetArtifactResponse { Block = b }, ct);
                }
            }
        }
    }
}
