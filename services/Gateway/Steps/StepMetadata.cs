using System.Text.Json;

namespace ConceptSuite.Gateway.Steps;

/// <summary>Reading fields of an artifact's metadata JSON (missing or malformed: empty).</summary>
public static class StepMetadata
{
    /// <summary>A string array field, e.g. "class_names", "names", "words".</summary>
    public static List<string> Strings(string json, string field)
    {
        if (string.IsNullOrEmpty(json)) return [];
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty(field, out var a) && a.ValueKind == JsonValueKind.Array
            ? a.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString() ?? "" : e.ToString()).ToList() : [];
    }

    /// <summary>A string field, e.g. "dataset"; empty when absent or not a string.</summary>
    public static string Text(string json, string field)
    {
        if (string.IsNullOrEmpty(json)) return "";
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.String
            ? v.GetString() ?? "" : "";
    }

        /// <summary>A boolean field; false when absent or not a boolean.</summary>
    public static bool Bool(string json, string field)
    {
        if (string.IsNullOrEmpty(json)) return false;
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.True;
    }

        /// <summary>A number array field, e.g. "similarity".</summary>
    public static List<double> Numbers(string json, string field) =>
        Strings(json, field).Select(s => double.TryParse(s, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : double.NaN).ToList();

    /// <summary>Names made unique in order: a repeated name gets " #2", " #3", ... (models need unique concept names).</summary>
    public static List<string> Unique(IEnumerable<string> names)
    {
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var result = new List<string>();
        foreach (var n in names)
        {
            seen[n] = seen.TryGetValue(n, out var k) ? k + 1 : 1;
            result.Add(seen[n] == 1 ? n : $"{n} #{seen[n]}");
        }
        return result;
    }
}
