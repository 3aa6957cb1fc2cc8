using ConceptSuite.Contracts;
using ConceptSuite.Core.Hosting;
using ConceptSuite.Core.Limits;
using ConceptSuite.Core.Tensors;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace ConceptSuite.Core.Artifacts;

/// <summary>The artifact store over gRPC (artifact.proto), served by every stage.</summary>
public sealed class ArtifactGrpcService(ArtifactStore store, IOptions<SuiteOptions> options, ArtifactGarbageCollector collector) : ArtifactService.ArtifactServiceBase
{
    public override Task<ArtifactInfo> GetArtifactInfo(GetArtifactInfoRequest request, ServerCallContext context) =>
        Task.FromResult(store.GetInfo(request.Id));

    /// <summary>Artifacts listed per page when a request names no page_size.</summary>
    public const int DefaultPageSize = 100;

    /// <summary>Largest page_size a ListArtifacts request may ask for.</summary>
    public const int MaxPageSize = 1000;

    public override Task<ListArtifactsResponse> ListArtifacts(ListArtifactsRequest request, ServerCallContext context) =>
        Task.FromResult(Page(store.List(request.Kind), request));

    /// <summary>The sort key of <see cref="Page"/>'s order (creation time, then id).</summary>
    static string KeyOf(ArtifactInfo a) => a.Created.ToDateTime().Ticks.ToString("D19");

    /// <summary>
    /// One page of <paramref name="artifacts"/> in creation order (then id), after the request's
    /// page token: the one paging rule of every ListArtifacts, the gateway's merge of several
    /// stores included (a token is a position in that order, valid in any store).
    /// </summary>
    /// <param name="moreElsewhere">A source of <paramref name="artifacts"/> has more after its page (the gateway's merge).</param>
    public static ListArtifactsResponse Page(IEnumerable<ArtifactInfo> artifacts, ListArtifactsRequest request, bool moreElsewhere = false)
    {
        int size = Paging.Size(request.PageSize, DefaultPageSize, MaxPageSize);
        var after = Paging.Parse(request.PageToken);
        var rows = artifacts.Select(a => (Key: KeyOf(a), a))
            .Where(r => after is not { } c || string.CompareOrdinal(r.Key, c.Key) > 0 || (r.Key == c.Key && string.CompareOrdinal(r.a.Ref.Id, c.Id) > 0))
            .OrderBy(r => r.Key, StringComparer.Ordinal).ThenBy(r => r.a.Ref.Id, StringComparer.Ordinal)
            .Take(size + 1).ToList();
        var response = new ListArtifactsResponse();
        response.Artifacts.AddRange(rows.Take(size).Select(r => r.a));
        // Every source's page holds its first page_size rows after the token, so rows a source left
        // out lie after the last row kept here: the next page starts after it.
        int kept = response.Artifacts.Count;
        if (rows.Count > size || (moreElsewhere && kept > 0)) response.NextPageToken = Paging.Token(rows[kept - 1].Key, rows[kept - 1].a.Ref.Id);
        return response;
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
        RequestBudget.Labels("header.labels", header.Labels);
        if (!string.IsNullOrEmpty(header.MetadataJson)) RequestBudget.MetadataJson("header.metadata_json", header.MetadataJson, options.Value.MaxMetadataJsonBytes);
        using var writer = store.BeginWrite(header.Kind);
        writer.MetadataJson = string.IsNullOrEmpty(header.MetadataJson) ? "{}" : header.MetadataJson;
        foreach (var (k, v) in header.Labels) writer.Labels[k] = v;
        var validator = new TensorStreamValidator(new TensorStreamRules { MaxTotalBytes = options.Value.MaxStreamBytes });
        while (await requestStream.MoveNext(ct))
        {
            var block = requestStream.Current.Block ?? throw new InvalidInputException("block", "only the first message may be a header");
            validator.Accept(block);
            writer.AppendRows(block.Name, block.Tensor.Dtype, block.Tensor.Shape, block.Tensor.Data.Span);
            ReceivedBlocks.Release(block);
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
