using System.Globalization;
using ConceptSuite.Contracts;

namespace ConceptSuite.Discovery.Abstractions;

/// <summary>Kinds of option values.</summary>
public enum OptionType { Int, Float, Bool, Choice }

/// <summary>
/// One option of a method: type, default, inclusive bounds, allowed values. A max of
/// <see cref="ConceptsBound"/> means "at most n_concepts" (e.g. TopK's k).
/// </summary>
public sealed record OptionSpec(string Name, OptionType Type, string Default, string Description,
    double? Min = null, double? Max = null, string[]? Choices = null, bool MaxIsConcepts = false)
{
    public const string ConceptsBound = "n_concepts";

    public static OptionSpec Int(string name, long def, string description, long? min = null, long? max = null, bool maxIsConcepts = false) =>
        new(name, OptionType.Int, def.ToString(CultureInfo.InvariantCulture), description, min, max, null, maxIsConcepts);
    public static OptionSpec Float(string name, double def, string description, double? min = null, double? max = null) =>
        new(name, OptionType.Float, def.ToString("R", CultureInfo.InvariantCulture), description, min, max);
    public static OptionSpec Bool(string name, bool def, string description) =>
        new(name, OptionType.Bool, def ? "true" : "false", description);
    public static OptionSpec Choice(string name, string def, string description, params string[] choices) =>
        new(name, OptionType.Choice, def, description, null, null, choices);
}

/// <summary>
/// Validated option values of one dictionary (every option present, defaults filled in). Built
/// only by <see cref="Parse"/>, which throws InvalidInputException naming the option's field.
/// </summary>
public sealed class MethodOptions
{
    readonly Dictionary<string, string> _values;

    MethodOptions(Dictionary<string, string> values, int concepts, long seed)
    {
        _values = values; Concepts = concepts; Seed = seed;
    }

    /// <summary>C, the number of atoms.</summary>
    public int Concepts { get; }
    public long Seed { get; }
    public IReadOnlyDictionary<string, string> Values => _values;

    public long Long(string name) => long.Parse(_values[name], CultureInfo.InvariantCulture);
    public int Int(string name) => checked((int)Long(name));
    public double Float(string name) => double.Parse(_values[name], CultureInfo.InvariantCulture);
    public bool Bool(string name) => _values[name] == "true";
    public string Choice(string name) => _values[name];

    /// <summary>The same options with another seed (the stability refit).</summary>
    public MethodOptions WithSeed(long seed) => new(new(_values), Concepts, seed);

    /// <summary>Checks names, types and ranges; fills defaults. <paramref name="field"/> prefixes error fields.</summary>
    public static MethodOptions Parse(IReadOnlyList<OptionSpec> specs, IReadOnlyDictionary<string, string>? given,
        int concepts, long seed, string field)
    {
        if (concepts < 1) throw new InvalidInputException(field + ".n_concepts", $"must be >= 1, got {concepts}");
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        given ??= new Dictionary<string, string>();
        foreach (var name in given.Keys)
            if (!specs.Any(s => s.Name == name))
                throw new InvalidInputException($"{field}.options.{name}",
                    $"unknown option; this method has: {(specs.Count == 0 ? "(none)" : string.Join(", ", specs.Select(s => s.Name)))}");
        foreach (var s in specs)
        {
            var f = $"{field}.options.{s.Name}";
            var text = given.TryGetValue(s.Name, out var v) ? v.Trim() : s.Default;
            switch (s.Type)
            {
                case OptionType.Int:
                {
                    if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var x))
                        throw new InvalidInputException(f, $"must be an integer, got '{text}'");
                    CheckRange(s, x, concepts, f);
                    values[s.Name] = x.ToString(CultureInfo.InvariantCulture);
                    break;
                }
                case OptionType.Float:
                {
                    if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) || !double.IsFinite(x))
                        throw new InvalidInputException(f, $"must be a finite number, got '{text}'");
                    CheckRange(s, x, concepts, f);
                    values[s.Name] = x.ToString("R", CultureInfo.InvariantCulture);
                    break;
                }
                case OptionType.Bool:
                {
                    var t = text.ToLowerInvariant();
                    if (t is not ("true" or "false" or "1" or "0"))
                        throw new InvalidInputException(f, $"must be true or false, got '{text}'");
                    values[s.Name] = t is "true" or "1" ? "true" : "false";
                    break;
                }
                case OptionType.Choice:
                {
                    if (s.Choices is null || !s.Choices.Contains(text))
                        throw new InvalidInputException(f, $"must be one of {string.Join(", ", s.Choices ?? [])}, got '{text}'");
                    values[s.Name] = text;
                    break;
                }
            }
        }
        return new MethodOptions(values, concepts, seed);
    }

    static void CheckRange(OptionSpec s, double x, int concepts, string f)
    {
        if (s.Min is { } lo && x < lo) throw new InvalidInputException(f, $"must be >= {lo.ToString(CultureInfo.InvariantCulture)}, got {x.ToString(CultureInfo.InvariantCulture)}");
        if (s.Max is { } hi && x > hi) throw new InvalidInputException(f, $"must be <= {hi.ToString(CultureInfo.InvariantCulture)}, got {x.ToString(CultureInfo.InvariantCulture)}");
        if (s.MaxIsConcepts && x > concepts) throw new InvalidInputException(f, $"must be <= n_concepts ({concepts}), got {x.ToString(CultureInfo.InvariantCulture)}");
    }
}
