using System.Text;
using System.Text.Json;

namespace ConceptSuite.Client;

/// <summary>
/// Reads a text corpus the way users hold one, on the client (the server never opens a client's
/// path): a plain file with one example per line (blank lines skipped, label 0), or JSON Lines
/// (".jsonl" / ".ndjson": one object per line with "text" and an optional "label", an integer or
/// a class name; class names are numbered in order of first appearance). Bytes must be UTF-8: an
/// invalid sequence, a line that is not a JSON object with a string "text", or labels that mix
/// names and numbers fail with the file and line number, before anything is sent.
/// </summary>
public static class TextFiles
{
    /// <summary>The examples of a corpus: texts, labels, and class names (empty when labels are numbers or absent).</summary>
    public sealed record Corpus(IReadOnlyList<string> Texts, IReadOnlyList<long> Labels, IReadOnlyList<string> ClassNames);

    static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static bool IsJsonLines(string path) =>
        path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".ndjson", StringComparison.OrdinalIgnoreCase);

    public static Corpus Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        bool json = IsJsonLines(path);
        var texts = new List<string>();
        var labels = new List<long>();
        var classes = new List<string>();
        var classIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        bool? named = null;
        int start = bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0;
        int lineNo = 0;
        while (start < bytes.Length)
        {
            int end = Array.IndexOf(bytes, (byte)'\n', start);
            if (end < 0) end = bytes.Length;
            lineNo++;
            string line;
            try { line = Strict.GetString(bytes, start, end - start).TrimEnd('\r'); }
            catch (DecoderFallbackException) { throw new InvalidDataException($"{path}:{lineNo}: not valid UTF-8"); }
            start = end + 1;
            if (string.IsNullOrWhiteSpace(line)) continue;
            if (!json) { texts.Add(line); labels.Add(0); continue; }
            JsonElement root;
            try { root = JsonDocument.Parse(line).RootElement; }
            catch (JsonException e) { throw new InvalidDataException($"{path}:{lineNo}: not a JSON object ({e.Message})"); }
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
                throw new InvalidDataException($"{path}:{lineNo}: needs a string field \"text\"");
            long label = 0;
            if (root.TryGetProperty("label", out var l) && l.ValueKind != JsonValueKind.Null)
            {
                bool isName = l.ValueKind == JsonValueKind.String;
                if (!isName && !(l.ValueKind == JsonValueKind.Number && l.TryGetInt64(out label) && label >= 0))
                    throw new InvalidDataException($"{path}:{lineNo}: \"label\" must be a class name or an integer >= 0");
                if (named is { } n && n != isName) throw new InvalidDataException($"{path}:{lineNo}: labels mix class names and numbers");
                named = isName;
                if (isName)
                {
                    var name = l.GetString()!;
                    if (!classIndex.TryGetValue(name, out var k)) { classIndex[name] = k = classes.Count; classes.Add(name); }
                    label = k;
                }
            }
            texts.Add(text.GetString()!);
            labels.Add(label);
        }
        if (texts.Count == 0) throw new InvalidDataException($"{path}: has no texts");
        return new Corpus(texts, labels, classes);
    }
}
