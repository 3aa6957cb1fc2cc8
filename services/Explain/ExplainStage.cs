using ConceptSuite.Core.Hosting;
using ConceptSuite.Explain;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registration pair of the explanation and metrics stage ("explain").</summary>
public static class ExplainStage
{
    public const string Name = "explain";
    public const string GrpcService = "conceptsuite.v1.ExplainService";

    public static IServiceCollection AddExplainStage(this IServiceCollection services)
    {
        services.AddStage(Name, GrpcService);
        return services;
    }

    public static IEndpointRouteBuilder MapExplainStage(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<ExplainService>();
        return endpoints;
    }
}
