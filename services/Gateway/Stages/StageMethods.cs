using ConceptSuite.Contracts;
using ConceptSuite.Core.Methods;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace ConceptSuite.Gateway.Stages;

/// <summary>
/// What the gateway's ListMethods answers: its own families (workflow steps) and those of the
/// stages behind it, each stage asked through its own ListMethods where <see cref="StageClients"/>
/// reaches it. A stage that is not served there (not configured, not running, or unreachable
/// within the probe timeout) is left out, not an error.
/// </summary>
public sealed class StageMethods(StageClients stages, MethodCatalog catalog, IOptions<GatewayOptions> options)
{
    /// <summary>
    /// Every family (empty <paramref name="family"/>), or the one so named: the gateway's own
    /// without asking the stages, else wherever a stage has it; INVALID_ARGUMENT when none has.
    /// </summary>
    public async Task<ListMethodsResponse> ListAsync(string family, CancellationToken ct)
    {
        var own = catalog.List(GatewayStage.Name, new ListMethodsRequest());
        if (family.Length > 0 && own.Families.FirstOrDefault(f => f.Name == family) is { } mine)
            return new ListMethodsResponse { Families = { mine } };
        var all = own.Families.Concat(await StagesAsync(ct)).ToList();
        var named = family.Length == 0 ? all : all.Where(f => f.Name == family).ToList();
        return named.Count > 0 || family.Length == 0 ? new ListMethodsResponse { Families = { named } }
            : throw new InvalidInputException("family", $"no stage has a family '{(family.Length <= 64 ? family : family[..64])}'; " +
                $"known: {string.Join(", ", all.Select(f => f.Name))}");
    }

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
    async Task<List<MethodFamily>> StagesAsync(CancellationToken ct)
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
