using System.Globalization;
using ConceptSuite.Contracts;

namespace ConceptSuite.Core.Data;

/// <summary>
/// Reads a WordNet 3 database (Debian package wordnet-base: /usr/share/wordnet) into a naming
/// vocabulary: the noun and adjective lemmas of index.noun / index.adj, most frequent first, and
/// the attribute links ("=" pointers of data.adj / data.noun: adjective "large" → noun "size").
/// File format: wndb(5WN) — index lines "lemma pos synset_cnt p_cnt [ptr...] sense_cnt
/// tagsense_cnt offset..."; data lines "offset lex_filenum ss_type w_cnt(hex) word lex_id ...
/// p_cnt ptr_symbol offset pos source/target ... | gloss". License lines start with spaces.
/// </summary>
public sealed class WordNetVocabulary
{
    public const string DefaultDirectory = "/usr/share/wordnet";

    public List<VocabularyWord> Words { get; } = new();
    /// <summary>Adjective → the attribute nouns it is a value of.</summary>
    public Dictionary<string, List<string>> Attributes { get; } = new(StringComparer.Ordinal);

    /// <param name="maxWords">Keep the most frequent words (by tagged senses) up to this count; 0 keeps all.</param>
    public static WordNetVocabulary Read(string directory = DefaultDirectory, bool nouns = true, bool adjectives = true, int maxWords = 0)
    {
        var vocab = new WordNetVocabulary();
        var files = new List<(string Index, string Data, char Pos)>();
        if (nouns) files.Add(("index.noun", "data.noun", 'n'));
        if (adjectives) files.Add(("index.adj", "data.adj", 'a'));
        foreach (var (index, _, pos) in files)
        {
            var path = Path.Combine(directory, index);
            if (!File.Exists(path))
                throw new NotFoundException("WordNet index (install the Debian package wordnet-base)", path);
            foreach (var line in File.ReadLines(path))
            {
                if (line.Length == 0 || line[0] == ' ') continue;
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f.Length < 6) continue;
                int pCnt = int.Parse(f[3], CultureInfo.InvariantCulture);
                int tag = int.Parse(f[5 + pCnt], CultureInfo.InvariantCulture);
                vocab.Words.Add(new VocabularyWord(f[0].Replace('_', ' '), pos, tag));
            }
        }
        var ordered = vocab.Words.OrderByDescending(w => w.TagCount).ThenBy(w => w.Word, StringComparer.Ordinal).ToList();
        if (maxWords > 0 && ordered.Count > maxWords) ordered = ordered.Take(maxWords).ToList();
        vocab.Words.Clear();
        vocab.Words.AddRange(ordered);

        // Attribute links: synset offsets → first lemma, then adjective synsets' "=" pointers to nouns.
        if (adjectives)
        {
            var nounHead = new Dictionary<string, string>(StringComparer.Ordinal);
            var nounData = Path.Combine(directory, "data.noun");
            if (File.Exists(nounData))
                foreach (var line in File.ReadLines(nounData))
                {
                    if (line.Length == 0 || line[0] == ' ') continue;
                    var f = line.Split(' ', 6);
                    if (f.Length >= 5) nounHead[f[0]] = f[4].Replace('_', ' ');
                }
            foreach (var line in File.ReadLines(Path.Combine(directory, "data.adj")))
            {
                if (line.Length == 0 || line[0] == ' ') continue;
                var body = line.Split('|', 2)[0];
                var f = body.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                int wCnt = int.Parse(f[3], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                var lemmas = new List<string>();
                for (int i = 0; i < wCnt; i++)
                {
                    var w = f[4 + 2 * i];
                    int paren = w.IndexOf('(');      // adjective markers like "(a)", "(p)"
                    if (paren > 0) w = w[..paren];
                    lemmas.Add(w.Replace('_', ' '));
                }
                int p = 4 + 2 * wCnt;
                int pCnt = int.Parse(f[p], CultureInfo.InvariantCulture);
                for (int i = 0; i < pCnt; i++)
                {
                    int at = p + 1 + 4 * i;
                    if (f[at] != "=" || f[at + 2] != "n") continue;
                    if (!nounHead.TryGetValue(f[at + 1], out var noun)) continue;
                    foreach (var adj in lemmas)
                    {
                        if (!vocab.Attributes.TryGetValue(adj, out var list)) vocab.Attributes[adj] = list = new();
                        if (!list.Contains(noun)) list.Add(noun);
                    }
                }
            }
        }
        return vocab;
    }
}
