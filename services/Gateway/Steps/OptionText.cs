using ConceptSuite.Contracts;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// The two list shapes a step's text option may hold: "name=value;name=value" (options passed on
/// to a stage method, which checks them against its own schema) and comma lists.
/// </summary>
public static class OptionText
{
    /// <summary>"name=value;name=value" (empty: none); a pair without "=" is refused, naming <paramref name="field"/>.</summary>
    public static Dictionary<string, string> Pairs(string text, string field)
    {
        var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = pair.IndexOf('=');
            if (eq <= 0) throw new InvalidInputException(field, $"'{pair}' is not name=value");
            pairs[pair[..eq].Trim()] = pair[(eq + 1)..].Trim();
        }
        return pairs;
    }

    /// <summary>A comma list without empty entries.</summary>
    public static string[] List(string text) => text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
