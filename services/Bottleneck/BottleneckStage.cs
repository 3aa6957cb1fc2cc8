using ConceptSuite.Core.Artifacts;
using ConceptSuite.Bottleneck.Methods;
using ConceptSuite.Core.Hosting;
using ConceptSuite.Core.Methods;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using TorchSharp;

namespace ConceptSuite.Bottleneck;

/// <summary>Registration pair of the bottleneck stage.</summary>
public static class BottleneckStage
{
    public const string Name = "bottleneck";
    public const string GrpcService = "conceptsuite.v1.BottleneckService";

    public static IServiceCollection AddBottleneckStage(this IServiceCollection services)
    {
        services.AddStage(Name, GrpcService);
        services.AddMethodFamily(BottleneckMethods.Family);
        services.AddSingleton(sp => new BottleneckModels(sp.GetRequiredService<ArtifactStore>(), sp.GetRequiredService<torch.Device>()));
        return services;
    }

    public static IEndpointRouteBuilder MapBottleneckStage(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<BottleneckGrpcService>();
        return endpoints;
    }
}
