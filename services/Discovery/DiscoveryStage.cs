using ConceptSuite.Core.Hosting;
using ConceptSuite.Core.Methods;
using ConceptSuite.Discovery.Fitting;
using ConceptSuite.Discovery.Methods;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace ConceptSuite.Discovery;

/// <summary>Wiring of the discovery stage.</summary>
public static class DiscoveryStage
{
    public const string Name = "discovery";
    public const string GrpcService = "conceptsuite.v1.DiscoveryService";

    public static IServiceCollection AddDiscoveryStage(this IServiceCollection services)
    {
        services.AddStage(Name, GrpcService);
        services.AddOptions<DiscoveryOptions>().BindConfiguration(DiscoveryOptions.Section)
            .Validate(o => o.EvalSamples > 0 && o.CheckpointSeconds > 0 && o.MaxDictionariesPerFit > 0, "ConceptSuite:Discovery options must be positive");
        services.AddSingleton<FitJobs>();
        services.AddMethodFamily(DictionaryMethods.Family);
        return services;
    }

    public static IEndpointRouteBuilder MapDiscoveryStage(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<DiscoveryGrpcService>();
        return endpoints;
    }
}
