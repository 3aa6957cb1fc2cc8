using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Hosting;
using ConceptSuite.Core.Methods;
using ConceptSuite.Gateway.Stages;
using ConceptSuite.Gateway.Steps;
using ConceptSuite.Gateway.Workflows;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace ConceptSuite.Gateway;

/// <summary>Registration of the gateway stage.</summary>
public static class GatewayStage
{
    /// <summary>The stage name (--stages, health service, ListMethods).</summary>
    public const string Name = "gateway";

    public static IServiceCollection AddGatewayStage(this IServiceCollection services)
    {
        services.AddStage(Name, "conceptsuite.v1.GatewayService");
        services.AddOptions<GatewayOptions>().BindConfiguration(GatewayOptions.Section)
            .Validate(o => o.StepTimeoutSeconds > 0, "ConceptSuite:Gateway:StepTimeoutSeconds must be > 0")
            .Validate(o => o.StepRetries >= 0, "ConceptSuite:Gateway:StepRetries must be >= 0")
            .Validate(o => o.ReadinessWaitSeconds >= 0, "ConceptSuite:Gateway:ReadinessWaitSeconds must be >= 0")
            .Validate(o => o.BreakerFailureRatio is > 0 and <= 1, "ConceptSuite:Gateway:BreakerFailureRatio must be in (0, 1]")
            .Validate(o => o.LeaseSeconds >= 1, "ConceptSuite:Gateway:LeaseSeconds must be >= 1")
            .ValidateOnStart();
        services.AddSingleton<StageClients>();
        services.AddSingleton<IWorkflowStore>(sp =>
        {
            var gateway = sp.GetRequiredService<IOptions<GatewayOptions>>().Value;
            return gateway.PostgresConnectionString.Length > 0
                ? new PostgresWorkflowStore(gateway.PostgresConnectionString)
                : new SqliteWorkflowStore(sp.GetRequiredService<IOptions<SuiteOptions>>().Value);
        });
        services.AddSingleton<IArtifactRoots, WorkflowArtifactRoots>();
        services.AddSingleton<WorkflowEngine>();
        services.AddHostedService<WorkflowRecovery>();
        services.AddSingleton<StageMethods>();
        services.AddMethodFamily(WorkflowSteps.Family);
        return services;
    }

    public static IEndpointRouteBuilder MapGatewayStage(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<GatewayGrpcService>();
        return endpoints;
    }
}
