using ConceptSuite.Core.Hosting;
using ConceptSuite.Generate.Service;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace ConceptSuite.Generate;

/// <summary>Options of the generate stage (section "ConceptSuite:Generate").</summary>
public sealed class GenerateOptions
{
    public const string Section = "ConceptSuite:Generate";
    /// <summary>Prompts per Generate call.</summary>
    public int MaxPrompts { get; set; } = 256;
    /// <summary>DDIM steps when a request leaves them at 0.</summary>
    public int DefaultSteps { get; set; } = 50;
    /// <summary>Guidance scale when a request leaves it at 0.</summary>
    public double DefaultGuidance { get; set; } = 3.0;
    /// <summary>Seconds between training checkpoints when the job does not say.</summary>
    public int CheckpointSeconds { get; set; } = 30;
    /// <summary>Training images at most.</summary>
    public int MaxTrainingSamples { get; set; } = 200_000;
}

public static class GenerateStage
{
    public const string Name = "generate";
    public const string ServiceName = "conceptsuite.v1.GenerateService";

    public static IServiceCollection AddGenerateStage(this IServiceCollection services)
    {
        services.AddStage(Name, ServiceName);
        services.AddOptions<GenerateOptions>().BindConfiguration(GenerateOptions.Section);
        return services;
    }

    public static IEndpointRouteBuilder MapGenerateStage(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<GenerateGrpcService>();
        return endpoints;
    }
}
