using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace ConceptSuite.Core.Methods;

/// <summary>How a stage declares its method families (answered by its <c>ListMethods</c>).</summary>
public static class MethodRegistration
{
    public static IServiceCollection AddMethodFamily(this IServiceCollection services, IMethodFamily family)
    {
        services.AddSingleton(family);
        services.TryAddSingleton<MethodCatalog>();
        return services;
    }
}
