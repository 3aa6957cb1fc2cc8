using ConceptSuite.Contracts;

namespace ConceptSuite.Core.Data;

/// <summary>
/// The glosses of a WordNet 3 database (Debian package wordnet-base: /usr/share/wordnet) as a text
/// corpus: each synset's gloss (after "|" on a data.* line) holds its definition and, in double
/// quotes, usage examples — "a thin pancake; \"she made crepes for breakfast\"". Both are rows; the
/// label is the synset's part of speech. Read in file order (noun, verb, adjective, adverb), so the
/// same files give the same corpus.
/// </summary>
public static class WordNetGlosses
{
    /// <summary>Class names, in label order.</summary>
    public static readonly IReadOnlyList<string> PartsOfSpeech = ["noun", "verb", "adjective", "adverb"];

    static readonly string[] Files = ["data.noun", "data.verb", "data.adj", "data.adv"];

    /// <summary>One text of the corpus: the definition or one usage example of the synset of <paramref name="Lemma"/>.</summary>
    public sealed record Gloss(string Text, int PartOfSpeech, bool Example, string Lemma);

    /// <param name="parts">"definitions", "examples" or "both".</param>
    public static List<Gloss> Read(string directory = WordNetVocabulary.DefaultDirectory, string parts = "both")
    {
        bool definitions = parts is "both" or "definitions", examples = parts is "both" or "examples";
        var result = new List<Gloss>();
        for (int pos = 0; pos < Files.Length; pos++)
        {
            var path = Path.Combine(directory, Files[pos]);
            if (!File.Exists(path)) throw new NotFoundException("WordNet data file (install the Debian package wordnet-base)", path);
            foreach (var line in File.ReadLines(path))
            {
                if (line.Length == 0 || line[0] == ' ') continue;
                int bar = line.IndexOf('|');
                if (bar < 0) continue;
                var head = line.AsSpan(0, bar).ToString().Split(' ', 6);
                string lemma = head.Length > 4 ? head[4].Replace('_', ' ') : "";
                int paren = lemma.IndexOf('(');
                if (paren > 0) lemma = lemma[..paren];
                foreach (var (text, isExample) in Split(line[(bar + 1)..]))
                    if (isExample ? examples : definitions) result.Add(new Gloss(text, pos, isExample, lemma));
            }
        }
        return result;
    }

    /// <summary>
    /// A gloss's parts: the definition (the text before the first quote, its ';'-separated pieces
    /// joined) and each double-quoted example.
    /// </summary>
    public static IEnumerable<(string Text, bool Example)> Split(string gloss)
    {
        var definition = new List<string>();
        var examples = new List<string>();
        var current = new System.Text.StringBuilder();
        bool quoted = false, seenExample = false;
        foreach (char ch in gloss)
        {
            if (ch == '"')
            {
                // Text between examples (an attribution such as "- Mark Twain") is no definition.
                if (quoted) { Add(examples, current); seenExample = true; }
                else if (!seenExample) Add(definition, current);
                current.Clear();
                quoted = !quoted;
            }
            else if (ch == ';' && !quoted) { if (!seenExample) Add(definition, current); current.Clear(); }
            else current.Append(ch);
        }
        if (quoted) Add(examples, current);
        else if (!seenExample) Add(definition, current);
        if (definition.Count > 0) yield return (string.Join("; ", definition), false);
        foreach (var e in examples) yield return (e, true);
    }

    static void Add(List<string> to, System.Text.StringBuilder piece)
    {
        var s = piece.ToString().Trim().Trim('-', ',', ' ').Trim();
        if (s.Length > 1) to.Add(s);
    }
}
