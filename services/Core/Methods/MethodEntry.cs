namespace ConceptSuite.Core.Methods;

/// <summary>
/// One registered method: its registry name, the paper it follows, one line of description, its
/// option schema and a factory that receives the parsed options. <paramref name="Traits"/> holds
/// family-specific facts shown to clients (e.g. "nonnegative_codes" = "true").
/// </summary>
public sealed record MethodEntry<T>(string Name, string Paper, string Description, IReadOnlyList<OptionSpec> Options,
    Func<OptionValues, T> Create, IReadOnlyDictionary<string, string>? Traits = null)
{
    /// <summary>A trait's value, or null.</summary>
    public string? Trait(string name) => Traits is not null && Traits.TryGetValue(name, out var v) ? v : null;
}
