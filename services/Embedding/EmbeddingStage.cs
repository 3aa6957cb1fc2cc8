using ConceptSuite.Core.Hosting;
using ConceptSuite.Embedding.Data;
using ConceptSuite.Embedding.Jobs;
using ConceptSuite.Embedding.Models;
using ConceptSuite.Core.Methods;
using ConceptSuite.Embedding.Methods;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace ConceptSuite.Embedding;

/// <summary>Registration of the embedding stage (EmbeddingService + the Open Inference Protocol v2 service).</summary>
public static class EmbeddingStage
{
    /// <summary>The stage's name (--stages, health, ListMethods).</summary>
    public const string Name = "embedding";

    public static IServiceCollection AddEmbeddingStage(this IServiceCollection services)
    {
        services.AddOptions<EmbeddingOptions>().BindConfiguration(EmbeddingOptions.Section)
            .Validate(o => o.MaxBatch >= 1 && o.ChunkRows >= 1 && o.BatchWindowMs >= 0 && o.MaxImageSide >= 1,
                "ConceptSuite:Embedding: MaxBatch, ChunkRows, MaxImageSide must be >= 1 and BatchWindowMs >= 0")
            .Validate(o => o.MaxLoadedModels >= 1 && o.MaxLoadedModelBytes > 0 && o.MaxTapSessions >= 1 && o.MaxTapSessionBytes > 0 && o.MaxModelBytes > 0,
                "ConceptSuite:Embedding: MaxLoadedModels, MaxLoadedModelBytes, MaxTapSessions, MaxTapSessionBytes, MaxModelBytes must be >= 1")
            .ValidateOnStart();
        services.AddMethodFamily(DatasetSources.Family);
        services.AddMethodFamily(Backbones.Family);
        services.AddSingleton<ModelRegistry>();
        services.AddSingleton<ModelRegistration>();
        services.AddSingleton<DatasetImporter>();
        services.AddSingleton<EmbedDatasetJob>();
        services.AddSingleton<TrainBackboneJob>();
        services.AddStage(Name, "conceptsuite.v1.EmbeddingService", "inference.GRPCInferenceService");
        return services;
    }

    public static IEndpointRouteBuilder MapEmbeddingStage(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<EmbeddingGrpcService>();
        endpoints.MapGrpcService<InferenceGrpcService>();
        return endpoints;
    }
}
