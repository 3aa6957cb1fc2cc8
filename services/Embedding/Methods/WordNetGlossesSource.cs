using ConceptSuite.Core.Data;
using ConceptSuite.Core.Methods;

namespace ConceptSuite.Embedding.Methods;

/// <summary>
/// WordNet's glosses as a text corpus (<see cref="WordNetGlosses"/>, Debian package wordnet-base):
/// definitions and usage examples of every synset, labelled by part of speech (noun, verb,
/// adjective, adverb). With a limit, a uniform sample without replacement drawn from header.seed
/// (kept in corpus order), so a small corpus still mixes all four parts of speech.
/// </summary>
public sealed class WordNetGlossesSource(WordNetGlossesSourceOptions options) : ITextSource
{
    /// <summary>Rows of the full corpus with both parts (WordNet 3.0: 117 659 definitions + 48 459 examples ≈ 166 000).</summary>
    const long CorpusRows = 170_000;

    /// <summary>The corpus's mean text is under 80 UTF-8 bytes; a row is held as a string (2 bytes a char) and its bytes.</summary>
    const long BytesPerRow = 80 * 3 + 64;

    public TextDataset LoadTexts(int limit, long seed)
    {
        var all = WordNetGlosses.Read(parts: options.Parts);
        IEnumerable<int> rows = Enumerable.Range(0, all.Count);
        if (limit > 0 && limit < all.Count)
        {
            var order = Enumerable.Range(0, all.Count).ToArray();
            new Random(unchecked((int)seed)).Shuffle(order);
            rows = order.Take(limit).Order();
        }
        var picked = rows.Select(i => all[i]).ToList();
        string name = limit > 0 ? $"wordnet-glosses-{options.Parts}-{picked.Count}-seed{seed}" : $"wordnet-glosses-{options.Parts}";
        return new TextDataset(name, picked.Select(g => g.Text).ToList(), picked.Select(g => (long)g.PartOfSpeech).ToArray(), WordNetGlosses.PartsOfSpeech);
    }

    public long BytesFor(long limit) => Math.Min(limit > 0 ? limit : long.MaxValue, CorpusRows) * BytesPerRow + CorpusRows * BytesPerRow;
}

/// <summary>Options of <see cref="WordNetGlossesSource"/>.</summary>
public sealed record WordNetGlossesSourceOptions(string Parts)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
        [OptionSpec.Choice("parts", "both", "which parts of each gloss become texts", "both", "definitions", "examples")];

    public static WordNetGlossesSourceOptions From(OptionValues o) => new(o.Choice("parts"));
}
