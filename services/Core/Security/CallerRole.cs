using Grpc.Core;

namespace ConceptSuite.Core.Security;

/// <summary>The role <see cref="ApiKeyInterceptor"/> found for a call.</summary>
public static class CallerRole
{
    internal const string Key = "conceptsuite.role";

    /// <summary>
    /// The caller's role. A call that never passed the interceptor (an in-process call through a
    /// test host without it) counts as a client: trust is granted, never assumed.
    /// </summary>
    public static Role Of(ServerCallContext context) =>
        context.UserState.TryGetValue(Key, out var r) && r is Role role ? role : Role.Client;
}
