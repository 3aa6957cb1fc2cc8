using ConceptSuite.Contracts;

namespace ConceptSuite.Generate.Text;

/// <summary>
/// The words a generator understands: concept words grouped by attribute (colour, shape, size,
/// background), plus two reserved tokens. A prompt is tokenised as [BOS, w1, w2, ..., PAD...]:
/// BOS is always present (the unconditional prompt is BOS alone, so attention never runs over an
/// empty set), filler words ("a", "on", "the", "background", ...) are dropped, and any other word
/// must be a concept of the vocabulary.
/// </summary>
public sealed class ConceptVocabulary
{
    public const int Bos = 0;
    public const int Pad = 1;
    const int Reserved = 2;

    static readonly HashSet<string> Filler = ["a", "an", "the", "on", "in", "with", "of", "background", "shape", "image", "and", "colored", "coloured", "photo"];

    /// <summary>Known attribute of well-known concept words; other words fall in group "concept".</summary>
    static readonly Dictionary<string, string> KnownGroups = new(StringComparer.Ordinal)
    {
        ["red"] = "colour", ["green"] = "colour", ["blue"] = "colour", ["yellow"] = "colour",
        ["magenta"] = "colour", ["cyan"] = "colour", ["orange"] = "colour", ["purple"] = "colour", ["white"] = "colour",
        ["square"] = "shape", ["circle"] = "shape", ["triangle"] = "shape", ["cross"] = "shape", ["ring"] = "shape", ["diamond"] = "shape",
        ["small"] = "size", ["large"] = "size", ["big"] = "size", ["medium"] = "size",
        ["plain"] = "background", ["dotted"] = "background", ["checkered"] = "background",
        ["solid"] = "texture", ["striped"] = "texture",
        ["left"] = "position", ["right"] = "position",
        ["t-shirt"] = "garment", ["trouser"] = "garment", ["pullover"] = "garment", ["dress"] = "garment", ["coat"] = "garment",
        ["sandal"] = "garment", ["shirt"] = "garment", ["sneaker"] = "garment", ["bag"] = "garment", ["ankle-boot"] = "garment",
    };

    /// <summary>Order in which groups appear in a built prompt.</summary>
    public static readonly string[] GroupOrder = ["size", "texture", "colour", "shape", "position", "background", "garment", "concept"];

    readonly Dictionary<string, int> _index;

    public ConceptVocabulary(IReadOnlyList<string> concepts, int maxTokens = 8)
    {
        if (concepts.Count == 0) throw new InvalidInputException("concepts", "at least one concept word is required");
        if (maxTokens < 2) throw new InvalidInputException("max_tokens", "must be at least 2 (BOS and one word)");
        var seen = new HashSet<string>();
        foreach (var c in concepts)
        {
            if (string.IsNullOrWhiteSpace(c) || c.Any(char.IsWhiteSpace) || c != c.ToLowerInvariant())
                throw new InvalidInputException("concepts", $"'{c}' must be one lowercase word");
            if (Filler.Contains(c)) throw new InvalidInputException("concepts", $"'{c}' is a filler word");
            if (!seen.Add(c)) throw new InvalidInputException("concepts", $"'{c}' appears twice");
        }
        Concepts = concepts.ToArray();
        MaxTokens = maxTokens;
        _index = Concepts.Select((c, i) => (c, i)).ToDictionary(x => x.c, x => x.i + Reserved);
    }

    /// <summary>Concept words, in token order (token id = index + 2).</summary>
    public IReadOnlyList<string> Concepts { get; }
    /// <summary>Tokens per prompt including BOS; longer prompts are rejected.</summary>
    public int MaxTokens { get; }
    /// <summary>Embedding table rows: BOS, PAD and the concepts.</summary>
    public int Size => Concepts.Count + Reserved;

    public static string GroupOf(string concept) => KnownGroups.GetValueOrDefault(concept, "concept");

    /// <summary>The concepts of each attribute group, in vocabulary order.</summary>
    public IReadOnlyDictionary<string, string[]> Groups =>
        Concepts.GroupBy(GroupOf).ToDictionary(g => g.Key, g => g.ToArray());

    public bool Contains(string concept) => _index.ContainsKey(concept);

    /// <summary>Token id of a concept word; InvalidInputException naming <paramref name="field"/> when unknown.</summary>
    public int TokenOf(string concept, string field = "concept") =>
        _index.TryGetValue(concept, out var id) ? id
            : throw new InvalidInputException(field, $"unknown concept '{concept}'; known: {string.Join(", ", Concepts)}");

    public string WordOf(int token) => token switch
    {
        Bos => "<bos>",
        Pad => "<pad>",
        _ => Concepts[token - Reserved],
    };

    /// <summary>The concept words of a prompt (filler dropped), validated.</summary>
    public List<string> Words(string prompt, string field = "prompt")
    {
        var words = new List<string>();
        foreach (var raw in prompt.ToLowerInvariant().Split([' ', ',', '.', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries))
        {
            if (Filler.Contains(raw)) continue;
            if (!_index.ContainsKey(raw))
                throw new InvalidInputException(field, $"unknown concept '{raw}'; known: {string.Join(", ", Concepts)}");
            words.Add(raw);
        }
        if (words.Count + 1 > MaxTokens)
            throw new InvalidInputException(field, $"has {words.Count} concept words; at most {MaxTokens - 1} fit the {MaxTokens}-token context");
        return words;
    }

    /// <summary>Token ids [MaxTokens] of a prompt: BOS, its concept words, PAD.</summary>
    public long[] Tokenize(string prompt, string field = "prompt")
    {
        var ids = Enumerable.Repeat((long)Pad, MaxTokens).ToArray();
        ids[0] = Bos;
        var words = Words(prompt, field);
        for (int i = 0; i < words.Count; i++) ids[i + 1] = _index[words[i]];
        return ids;
    }

    /// <summary>
    /// "a small striped red square on the left on a dotted background" from a set of concept words;
    /// a Fashion-MNIST class word alone gives "a photo of a sneaker".
    /// </summary>
    public static string BuildPrompt(IEnumerable<string> concepts)
    {
        var byGroup = concepts.GroupBy(GroupOf).ToDictionary(g => g.Key, g => g.ToList());
        if (byGroup.Count == 1 && byGroup.TryGetValue("garment", out var garment) && garment.Count == 1)
            return $"a photo of {("aeiou".Contains(garment[0][0]) ? "an" : "a")} {garment[0]}";
        var parts = new List<string> { "a" };
        foreach (var g in new[] { "size", "texture", "colour" }) if (byGroup.TryGetValue(g, out var w)) parts.AddRange(w);
        parts.AddRange(byGroup.TryGetValue("shape", out var s) ? s : ["shape"]);
        if (byGroup.TryGetValue("position", out var pos)) { parts.Add("on"); parts.Add("the"); parts.AddRange(pos); }
        if (byGroup.TryGetValue("concept", out var other)) { parts.Add("with"); parts.AddRange(other); }
        if (byGroup.TryGetValue("background", out var b)) { parts.Add("on"); parts.Add("a"); parts.AddRange(b); parts.Add("background"); }
        return string.Join(' ', parts);
    }
}
