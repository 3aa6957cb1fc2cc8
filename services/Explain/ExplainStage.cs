using ConceptSuite.Core.Hosting;
using ConceptSuite.Core.Methods;
using ConceptSuite.Explain.Importance;
using ConceptSuite.Explain.Metrics;
using ConceptSuite.Explain.Representations;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace ConceptSuite.Explain;

/// <summary>Registration pair of the explanation and metrics stage ("explain").</summary>
public static class ExplainStage
{
    public const string Name = "explain";
    public const string GrpcService = "conceptsuite.v1.ExplainService";

    public static IServiceCollection AddExplainStage(this IServiceCollection services)
    {
        services.AddStage(Name, GrpcService);
        services.AddMethodFamily(ImportanceEstimators.Family);
        services.AddMethodFamily(RepresentationSimilarities.Family);
        services.AddMethodFamily(ExplanationMetrics.Family);
        return services;
    }

    public static IEndpointRouteBuilder MapExplainStage(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<ExplainGrpcService>();
        return endpoints;
    }
}
