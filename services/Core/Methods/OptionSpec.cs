using System.Globalization;

namespace ConceptSuite.Core.Methods;

/// <summary>Kinds of option values.</summary>
public enum OptionType { Int, Float, Bool, Choice, String }

/// <summary>
/// One hyper-parameter of a method: name, type, default, inclusive bounds or allowed values, and
/// what it means. A bound may instead name a request quantity (<see cref="MaxOf"/>, e.g.
/// "n_concepts"), supplied by the caller when the options are parsed.
/// </summary>
public sealed record OptionSpec(string Name, OptionType Type, string Default, string Description,
    double? Min = null, double? Max = null, IReadOnlyList<string>? Choices = null, string? MaxOf = null)
{
    public static OptionSpec Int(string name, long def, string description, long? min = null, long? max = null, string? maxOf = null) =>
        new(name, OptionType.Int, def.ToString(CultureInfo.InvariantCulture), description, min, max, null, maxOf);

    public static OptionSpec Float(string name, double def, string description, double? min = null, double? max = null) =>
        new(name, OptionType.Float, def.ToString("R", CultureInfo.InvariantCulture), description, min, max);

    public static OptionSpec Bool(string name, bool def, string description) =>
        new(name, OptionType.Bool, def ? "true" : "false", description);

    public static OptionSpec Choice(string name, string def, string description, params string[] choices) =>
        new(name, OptionType.Choice, def, description, null, null, choices);

    /// <summary>Free text (a list of names, a layer path); at most <see cref="OptionValues.MaxTextLength"/> characters.</summary>
    public static OptionSpec Text(string name, string def, string description) =>
        new(name, OptionType.String, def, description);

    /// <summary>The type's name in the contract (OptionSchema.type).</summary>
    public string TypeName => Type switch
    {
        OptionType.Int => "int",
        OptionType.Float => "float",
        OptionType.Bool => "bool",
        OptionType.Choice => "choice",
        _ => "string",
    };
}
