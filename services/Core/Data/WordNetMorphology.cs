using ConceptSuite.Contracts;

namespace ConceptSuite.Core.Data;

/// <summary>
/// WordNet's morphology ("morphy", wndb(5WN) / morphy(7WN)) over a WordNet 3 database (Debian
/// package wordnet-base): a word form's base form is its entry in an exception list (noun.exc,
/// verb.exc, adj.exc, adv.exc: "geese goose", "was be"); else the form itself when it is a lemma;
/// else the first detachment rule ("ies" → "y", "ing" → "", …) whose result is a lemma of that
/// rule's part of speech. Parts of speech are tried noun, verb, adjective, adverb.
/// </summary>
public sealed class WordNetMorphology
{
    static readonly (string Pos, (string Suffix, string Ending)[] Rules)[] Detachment =
    [
        ("noun", [("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"), ("men", "man"), ("ies", "y")]),
        ("verb", [("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", "")]),
        ("adj", [("er", ""), ("est", ""), ("er", "e"), ("est", "e")]),
        ("adv", []),
    ];

    readonly Dictionary<string, HashSet<string>> _lemmas = new(StringComparer.Ordinal);
    readonly Dictionary<string, Dictionary<string, string>> _exceptions = new(StringComparer.Ordinal);

    public static WordNetMorphology Read(string directory = WordNetVocabulary.DefaultDirectory)
    {
        var m = new WordNetMorphology();
        foreach (var (pos, _) in Detachment)
        {
            var index = Path.Combine(directory, "index." + pos);
            if (!File.Exists(index)) throw new NotFoundException("WordNet index (install the Debian package wordnet-base)", index);
            var lemmas = m._lemmas[pos] = new HashSet<string>(StringComparer.Ordinal);
            foreach (var line in File.ReadLines(index))
            {
                if (line.Length == 0 || line[0] == ' ') continue;
                int space = line.IndexOf(' ');
                if (space > 0) lemmas.Add(line[..space]);
            }
            var exc = m._exceptions[pos] = new Dictionary<string, string>(StringComparer.Ordinal);
            var excPath = Path.Combine(directory, pos + ".exc");
            if (!File.Exists(excPath)) continue;
            foreach (var line in File.ReadLines(excPath))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f.Length >= 2) exc.TryAdd(f[0], f[1]);
            }
        }
        return m;
    }

    /// <summary>True when <paramref name="word"/> (lower case, spaces as '_') is a lemma of any part of speech.</summary>
    public bool IsLemma(string word) => _lemmas.Values.Any(s => s.Contains(word));

    /// <summary>The base form of <paramref name="word"/> (lower-cased); the word itself when WordNet knows no other.</summary>
    public string Lemma(string word)
    {
        var w = word.ToLowerInvariant();
        foreach (var (pos, _) in Detachment)
            if (_exceptions[pos].TryGetValue(w, out var e)) return e;
        if (IsLemma(w)) return w;
        foreach (var (pos, rules) in Detachment)
            foreach (var (suffix, ending) in rules)
                if (w.Length > suffix.Length + 1 && w.EndsWith(suffix, StringComparison.Ordinal))
                {
                    var stem = w[..^suffix.Length] + ending;
                    if (_lemmas[pos].Contains(stem)) return stem;
                }
        return w;
    }
}
