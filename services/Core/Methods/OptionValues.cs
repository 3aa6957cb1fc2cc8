using System.Globalization;
using ConceptSuite.Contracts;

namespace ConceptSuite.Core.Methods;

/// <summary>
/// A method's options after one parse against its schema: every option present (defaults filled
/// in), each checked for type and range and held as its typed value. Built only by
/// <see cref="Parse"/>, which throws <see cref="InvalidInputException"/> naming
/// <c>{field}.options.{name}</c>. Methods read it once, into their own options record.
/// </summary>
public sealed class OptionValues
{
    /// <summary>Longest text accepted for any option value.</summary>
    public const int MaxTextLength = 4096;

    readonly Dictionary<string, object> _values;
    readonly Dictionary<string, string> _text;

    OptionValues(Dictionary<string, object> values, Dictionary<string, string> text, IReadOnlyDictionary<string, long> context)
    {
        _values = values; _text = text; Context = context;
    }

    /// <summary>The request quantities the options were checked against (e.g. "n_concepts").</summary>
    public IReadOnlyDictionary<string, long> Context { get; }

    /// <summary>Canonical text of every option (defaults included): what is stored in metadata and hashed into ids.</summary>
    public IReadOnlyDictionary<string, string> Canonical => _text;

    public long Long(string name) => (long)Get(name);
    public int Int(string name) => checked((int)(long)Get(name));
    public double Float(string name) => (double)Get(name);
    public bool Bool(string name) => (bool)Get(name);
    public string Choice(string name) => (string)Get(name);
    public string Text(string name) => (string)Get(name);

    object Get(string name) =>
        _values.TryGetValue(name, out var v) ? v : throw new KeyNotFoundException($"option '{name}' is not in this method's schema");

    /// <summary>The options with no values given: every default.</summary>
    public static OptionValues Defaults(IReadOnlyList<OptionSpec> specs, IReadOnlyDictionary<string, long>? context = null) =>
        Parse(specs, null, "options", context);

    /// <summary>
    /// Checks names, types and ranges and fills defaults. <paramref name="field"/> prefixes error
    /// fields; <paramref name="context"/> supplies the quantities a <see cref="OptionSpec.MaxOf"/> names.
    /// </summary>
    public static OptionValues Parse(IReadOnlyList<OptionSpec> specs, IReadOnlyDictionary<string, string>? given,
        string field, IReadOnlyDictionary<string, long>? context = null)
    {
        context ??= new Dictionary<string, long>();
        given ??= new Dictionary<string, string>();
        foreach (var name in given.Keys)
            if (!specs.Any(s => s.Name == name))
                throw new InvalidInputException($"{field}.options.{Clip(name)}",
                    $"unknown option; this method has: {(specs.Count == 0 ? "(none)" : string.Join(", ", specs.Select(s => s.Name)))}");
        var values = new Dictionary<string, object>(StringComparer.Ordinal);
        var text = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var s in specs)
        {
            var f = $"{field}.options.{s.Name}";
            var raw = given.TryGetValue(s.Name, out var v) ? v.Trim() : s.Default;
            if (raw.Length > MaxTextLength) throw new InvalidInputException(f, $"is {raw.Length} characters long; at most {MaxTextLength}");
            switch (s.Type)
            {
                case OptionType.Int:
                {
                    if (!long.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var x))
                        throw new InvalidInputException(f, $"must be an integer, got '{Clip(raw)}'");
                    CheckRange(s, x, context, f);
                    values[s.Name] = x;
                    text[s.Name] = x.ToString(CultureInfo.InvariantCulture);
                    break;
                }
                case OptionType.Float:
                {
                    if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) || !double.IsFinite(x))
                        throw new InvalidInputException(f, $"must be a finite number, got '{Clip(raw)}'");
                    CheckRange(s, x, context, f);
                    values[s.Name] = x;
                    text[s.Name] = x.ToString("R", CultureInfo.InvariantCulture);
                    break;
                }
                case OptionType.Bool:
                {
                    var t = raw.ToLowerInvariant();
                    if (t is not ("true" or "false" or "1" or "0"))
                        throw new InvalidInputException(f, $"must be true or false, got '{Clip(raw)}'");
                    values[s.Name] = t is "true" or "1";
                    text[s.Name] = t is "true" or "1" ? "true" : "false";
                    break;
                }
                case OptionType.Choice:
                {
                    if (s.Choices is null || !s.Choices.Contains(raw))
                        throw new InvalidInputException(f, $"must be one of {string.Join(", ", s.Choices ?? [])}, got '{Clip(raw)}'");
                    values[s.Name] = raw;
                    text[s.Name] = raw;
                    break;
                }
                default:
                    values[s.Name] = raw;
                    text[s.Name] = raw;
                    break;
            }
        }
        return new OptionValues(values, text, context);
    }

    static void CheckRange(OptionSpec s, double x, IReadOnlyDictionary<string, long> context, string f)
    {
        static string Num(double d) => d.ToString(CultureInfo.InvariantCulture);
        if (s.Min is { } lo && x < lo) throw new InvalidInputException(f, $"must be >= {Num(lo)}, got {Num(x)}");
        if (s.Max is { } hi && x > hi) throw new InvalidInputException(f, $"must be <= {Num(hi)}, got {Num(x)}");
        if (s.MaxOf is { } q && context.TryGetValue(q, out var bound) && x > bound)
            throw new InvalidInputException(f, $"must be <= {q} ({bound}), got {Num(x)}");
    }

    static string Clip(string s) => s.Length <= 64 ? s : s[..64] + "…";
}
