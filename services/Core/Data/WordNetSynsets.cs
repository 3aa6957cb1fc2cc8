using System.Globalization;
using ConceptSuite.Contracts;

namespace ConceptSuite.Core.Data;

/// <summary>
/// The synsets of a WordNet 3 database (Debian package wordnet-base) for nouns and adjectives:
/// each synset's lemmas and gloss, and each lemma's synsets most frequent sense first (the offset
/// order of index.noun / index.adj). Answers synonyms (lemmas sharing a synset) and the
/// definition of a word's first sense. File format as in <see cref="WordNetVocabulary"/> (wndb(5WN)).
/// </summary>
public sealed class WordNetSynsets
{
    /// <summary>One synset: its lemmas (underscores as spaces, lower case) and its gloss (the definition, examples cut).</summary>
    public sealed record Synset(char Pos, IReadOnlyList<string> Lemmas, string Gloss);

    readonly Dictionary<string, List<Synset>> _senses = new(StringComparer.Ordinal);

    /// <summary>Reads data.noun, data.adj, index.noun and index.adj of <paramref name="directory"/>.</summary>
    public static WordNetSynsets Read(string directory = WordNetVocabulary.DefaultDirectory)
    {
        var s = new WordNetSynsets();
        foreach (var (index, data, pos) in new[] { ("index.noun", "data.noun", 'n'), ("index.adj", "data.adj", 'a') })
        {
            var dataPath = Path.Combine(directory, data);
            var indexPath = Path.Combine(directory, index);
            if (!File.Exists(dataPath) || !File.Exists(indexPath))
                throw new NotFoundException("WordNet data (install the Debian package wordnet-base)", dataPath);
            var byOffset = new Dictionary<string, Synset>(StringComparer.Ordinal);
            foreach (var line in File.ReadLines(dataPath))
            {
                if (line.Length == 0 || line[0] == ' ') continue;
                var parts = line.Split('|', 2);
                var f = parts[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                int wCnt = int.Parse(f[3], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                var lemmas = new List<string>(wCnt);
                for (int i = 0; i < wCnt; i++)
                {
                    var w = f[4 + 2 * i];
                    int paren = w.IndexOf('(');      // adjective markers like "(a)", "(p)"
                    if (paren > 0) w = w[..paren];
                    lemmas.Add(w.Replace('_', ' ').ToLowerInvariant());
                }
                byOffset[f[0]] = new Synset(pos, lemmas, Definition(parts.Length > 1 ? parts[1] : ""));
            }
            foreach (var line in File.ReadLines(indexPath))
            {
                if (line.Length == 0 || line[0] == ' ') continue;
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f.Length < 6) continue;
                int synsets = int.Parse(f[2], CultureInfo.InvariantCulture);
                var lemma = f[0].Replace('_', ' ');
                if (!s._senses.TryGetValue(lemma, out var list)) s._senses[lemma] = list = new();
                for (int i = f.Length - synsets; i < f.Length; i++)
                    if (byOffset.TryGetValue(f[i], out var syn)) list.Add(syn);
            }
        }
        return s;
    }

    /// <summary>The gloss without its quoted examples: "patterned with alternating squares of color; "a checkered tablecloth"" → the first part.</summary>
    static string Definition(string gloss)
    {
        var g = gloss.Trim();
        int quote = g.IndexOf('"');
        if (quote >= 0) g = g[..quote];
        return g.Trim().TrimEnd(';').Trim();
    }

    /// <summary>The synsets of <paramref name="word"/> (noun senses, then adjective senses, each most frequent first); empty when unknown.</summary>
    public IReadOnlyList<Synset> Senses(string word) =>
        _senses.TryGetValue(word.ToLowerInvariant(), out var l) ? l : [];

    /// <summary>The word and every lemma that shares a synset with it, in any sense.</summary>
    public HashSet<string> Synonyms(string word)
    {
        var set = new HashSet<string>(StringComparer.Ordinal) { word.ToLowerInvariant() };
        foreach (var syn in Senses(word)) set.UnionWith(syn.Lemmas);
        return set;
    }

    /// <summary>
    /// The words that name a ground-truth value right: the value, each word of a several-word value
    /// ("ankle boot": "boot"; "t-shirt/top": "top"), and their synonyms.
    /// </summary>
    public HashSet<string> Accepted(string value) =>
        value.Split(['/', ' '], StringSplitOptions.RemoveEmptyEntries).Append(value).SelectMany(Synonyms).ToHashSet(StringComparer.Ordinal);

    /// <summary>The definition of the word's most frequent sense (of part of speech <paramref name="pos"/> 'n' or 'a' when it has one), or null.</summary>
    public string? Gloss(string word, char pos = ' ')
    {
        var senses = Senses(word);
        return (senses.FirstOrDefault(x => x.Pos == pos) ?? senses.FirstOrDefault())?.Gloss;
    }
}
