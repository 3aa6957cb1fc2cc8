using ConceptSuite.Core.Methods;

namespace ConceptSuite.Explain;

/// <summary>
/// The request's seed as the methods see it: a context quantity of the option parse, so a
/// method's options record takes it with its own options (estimators, similarity indices).
/// </summary>
public static class RequestSeed
{
    /// <summary>The context quantity's name.</summary>
    public const string Key = "seed";

    /// <summary>The parse context carrying <paramref name="seed"/> and, when given, the per-call budget in bytes.</summary>
    public static IReadOnlyDictionary<string, long> Context(long seed, long callBytes = 0) =>
        callBytes > 0 ? new Dictionary<string, long> { [Key] = seed, [Core.Limits.RequestBudget.ContextKey] = callBytes } : new Dictionary<string, long> { [Key] = seed };

    /// <summary>The seed the options were parsed with (0 when none was given).</summary>
    public static long Of(OptionValues o) => o.Context.TryGetValue(Key, out var s) ? s : 0;
}
