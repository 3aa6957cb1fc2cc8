using ConceptSuite.Core.Hosting;
using ConceptSuite.Core.Methods;
using ConceptSuite.Generate.Editing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace ConceptSuite.Generate;

/// <summary>Registration pair of the generative stage ("generate").</summary>
public static class GenerateStage
{
    public const string Name = "generate";
    public const string ServiceName = "conceptsuite.v1.GenerateService";

    public static IServiceCollection AddGenerateStage(this IServiceCollection services)
    {
        services.AddStage(Name, ServiceName);
        services.AddOptions<GenerateOptions>().BindConfiguration(GenerateOptions.Section)
            .Validate(o => o.IsValid, $"{GenerateOptions.Section}: MaxPrompts, CheckpointSeconds ≥ 1, DefaultSteps in [1, 1000], DefaultGuidance in [0, 20], MaxTrainingSamples ≥ 16")
            .ValidateOnStart();
        services.AddMethodFamily(ConceptErasers.Family);
        return services;
    }

    public static IEndpointRouteBuilder MapGenerateStage(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<GenerateGrpcService>();
        return endpoints;
    }
}
