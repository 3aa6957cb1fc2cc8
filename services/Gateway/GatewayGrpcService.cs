using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Limits;
using ConceptSuite.Gateway.Stages;
using ConceptSuite.Gateway.Workflows;
using Grpc.Core;

namespace ConceptSuite.Gateway;

/// <summary>
/// The gateway's gRPC service (gateway.proto): workflows, the method families of the gateway and
/// of every stage it reaches, and artifacts of every stage.
/// </summary>
public sealed class GatewayGrpcService(WorkflowEngine engine, StageClients stages, StageMethods stageMethods)
    : GatewayService.GatewayServiceBase
{
    /// <summary>The gateway's families and those of every stage it reaches (see <see cref="StageMethods"/>).</summary>
    public override Task<ListMethodsResponse> ListMethods(ListMethodsRequest request, ServerCallContext context) =>
        stageMethods.ListAsync(request.Family, context.CancellationToken);

    public override async Task RunWorkflow(RunWorkflowRequest request, IServerStreamWriter<WorkflowEvent> responseStream, ServerCallContext context)
    {
        var spec = request.WorkflowCase switch
        {
            RunWorkflowRequest.WorkflowOneofCase.Builtin => BuiltinWorkflows.Get(request.Builtin),
            RunWorkflowRequest.WorkflowOneofCase.Spec => request.Spec,
            _ => throw new InvalidInputException("workflow", "set builtin (a workflow name) or spec (a step list)"),
        };
        var info = engine.Prepare(spec, request.Parameters);
        await StreamAsync(info.Id, request.Detach, responseStream, context);
    }

    public override Task ResumeWorkflow(ResumeWorkflowRequest request, IServerStreamWriter<WorkflowEvent> responseStream, ServerCallContext context)
    {
        engine.Get(CheckId(request.Id));
        return StreamAsync(request.Id, request.Detach, responseStream, context);
    }

    async Task StreamAsync(string id, bool detach, IServerStreamWriter<WorkflowEvent> output, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var watch = engine.Start(id, watch: true, ct)!;
        try
        {
            await foreach (var e in watch.Reader.ReadAllAsync(ct)) await output.WriteAsync(e, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The caller left or its deadline passed: that cancels the workflow unless detached.
            if (!detach) engine.Cancel(id);
            throw;
        }
        finally { engine.Unwatch(id, watch); }
    }

    static string CheckId(string id) =>
        id.Length == 16 && id.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f') ? id
            : throw new InvalidInputException("id", "must be a workflow id (16 lowercase hex characters)");

    public override Task<WorkflowInfo> GetWorkflow(GetWorkflowRequest request, ServerCallContext context) =>
        Task.FromResult(engine.Get(CheckId(request.Id)));

    /// <summary>Workflows listed per page when a request names no page_size.</summary>
    public const int DefaultPageSize = 50;

    /// <summary>Largest page_size a ListWorkflows request may ask for.</summary>
    public const int MaxPageSize = 500;

    public override Task<ListWorkflowsResponse> ListWorkflows(ListWorkflowsRequest request, ServerCallContext context)
    {
        if (!Enum.IsDefined(request.State)) throw new InvalidInputException("state", $"{(int)request.State} is not a workflow state");
        int size = Paging.Size(request.PageSize, DefaultPageSize, MaxPageSize);
        var after = Paging.Parse(request.PageToken) is { } c ? new WorkflowCursor(c.Key, c.Id) : null;
        var rows = engine.List(request.State, size + 1, after);
        var r = new ListWorkflowsResponse();
        r.Workflows.AddRange(rows.Take(size));
        if (rows.Count > size)
        {
            var last = SqlWorkflowStore.CursorOf(rows[size - 1]);
            r.NextPageToken = Paging.Token(last.Created, last.Id);
        }
        return Task.FromResult(r);
    }

    public override Task<WorkflowInfo> CancelWorkflow(CancelWorkflowRequest request, ServerCallContext context) =>
        Task.FromResult(engine.Cancel(CheckId(request.Id)));

    /// <summary>The built-in workflows; the step methods are the "workflow_step" family of ListMethods.</summary>
    public override Task<DescribeWorkflowsResponse> DescribeWorkflows(DescribeWorkflowsRequest request, ServerCallContext context) =>
        Task.FromResult(new DescribeWorkflowsResponse { Builtins = { BuiltinWorkflows.All } });

    ArtifactService.ArtifactServiceClient Store => new(stages.Channel(StageClients.Store));

    public override async Task<ArtifactInfo> PutArtifact(IAsyncStreamReader<PutArtifactRequest> requestStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        using var call = Store.PutArtifact(deadline: context.Deadline, cancellationToken: ct);
        // The store sees the gateway's stage key: the client's own right to the kind is checked here.
        bool first = true;
        while (await requestStream.MoveNext(ct))
        {
            if (first && requestStream.Current.Header is { } header) ArtifactKinds.CheckUpload(header.Kind, context);
            first = false;
            await call.RequestStream.WriteAsync(requestStream.Current, ct);
        }
        await call.RequestStream.CompleteAsync();
        return await call.ResponseAsync;
    }

    /// <summary>Distinct addresses that may hold artifacts: the store first, then every configured stage.</summary>
    IEnumerable<ArtifactService.ArtifactServiceClient> Holders()
    {
        var seen = new HashSet<string>();
        foreach (var stage in new[] { StageClients.Store }.Concat(stages.ConfiguredStages))
            if (seen.Add(stages.AddressOf(stage))) yield return new ArtifactService.ArtifactServiceClient(stages.Channel(stage));
    }

    public override async Task GetArtifact(GetArtifactRequest request, IServerStreamWriter<GetArtifactResponse> responseStream, ServerCallContext context)
    {
        ArtifactId.Check(request.Id);
        var ct = context.CancellationToken;
        foreach (var holder in Holders())
        {
            try { await holder.GetArtifactInfoAsync(new GetArtifactInfoRequest { Id = request.Id }, deadline: context.Deadline, cancellationToken: ct); }
            catch (RpcException e) when (e.StatusCode == StatusCode.NotFound) { continue; }
            using var call = holder.GetArtifact(request, deadline: context.Deadline, cancellationToken: ct);
            while (await call.ResponseStream.MoveNext(ct)) await responseStream.WriteAsync(call.ResponseStream.Current, ct);
            return;
        }
        throw new NotFoundException("artifact", request.Id);
    }

    /// <summary>
    /// One page over every holder: each holder's page after the same token (a position in the
    /// one creation-time order), merged and cut to the page size, so the page is exact.
    /// </summary>
    public override async Task<ListArtifactsResponse> ListArtifacts(ListArtifactsRequest request, ServerCallContext context)
    {
        _ = ArtifactGrpcService.Page([], request); // checks page_size and page_token before any call
        var seen = new Dictionary<string, ArtifactInfo>();
        bool more = false;
        foreach (var holder in Holders())
        {
            var r = await holder.ListArtifactsAsync(request, deadline: context.Deadline, cancellationToken: context.CancellationToken);
            foreach (var a in r.Artifacts) seen.TryAdd(a.Ref.Id, a);
            more |= r.NextPageToken.Length > 0;
        }
        return ArtifactGrpcService.Page(seen.Values, request, more);
    }
}
