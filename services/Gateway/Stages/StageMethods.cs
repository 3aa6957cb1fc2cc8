using ConceptSuite.Contracts;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace ConceptSuite.Gateway.Stages;

/// <summary>
/// The method families of the stages behind the gateway, each asked through its own ListMethods
/// where <see cref="StageClients"/> reaches it. A stage that is not served there (not configured,
/// not running, or unreachable within the probe timeout) is left out, not an error.
/// </summary>
public sealed class StageMethods(StageClients stages, IOptions<GatewayOptions> options)
{
    delegate AsyncUnaryCall<ListMethodsResponse> ListCall(Grpc.Net.Client.GrpcChannel channel, ListMethodsRequest request, CallOptions call);

    static readonly (string Stage, ListCall Call)[] Stages =
    [
        ("embedding", (ch, r, o) => new EmbeddingService.EmbeddingServiceClient(ch).ListMethodsAsync(r, o)),
        ("discovery", (ch, r, o) => new DiscoveryService.DiscoveryServiceClient(ch).ListMethodsAsync(r, o)),
        ("bottleneck", (ch, r, o) => new BottleneckService.BottleneckServiceClient(ch).ListMethodsAsync(r, o)),
        ("explain", (ch, r, o) => new ExplainService.ExplainServiceClient(ch).ListMethodsAsync(r, o)),
        ("generate", (ch, r, o) => new GenerateService.GenerateServiceClient(ch).ListMethodsAsync(r, o)),
    ];

    /// <summary>Every family of every stage that answers, in stage order.</summary>
    public async Task<List<MethodFamily>> ListAsync(CancellationToken ct)
    {
        var timeout = TimeSpan.FromSeconds(Math.Max(0.5, options.Value.ProbeTimeoutSeconds));
        var calls = Stages.Select(async s =>
        {
            try
            {
                var r = await s.Call(stages.Channel(s.Stage), new ListMethodsRequest(), new CallOptions(deadline: DateTime.UtcNow + timeout, cancellationToken: ct));
                return r.Families.Where(f => f.Stage == s.Stage).ToList();
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.Unimplemented or StatusCode.Unavailable or StatusCode.DeadlineExceeded
                                             or StatusCode.NotFound or StatusCode.Unauthenticated && !ct.IsCancellationRequested)
            {
                return [];
            }
        }).ToList();
        var all = new List<MethodFamily>();
        foreach (var c in calls) all.AddRange(await c);
        return all;
    }
}
