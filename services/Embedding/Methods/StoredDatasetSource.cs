using System.Text.Json;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Data;
using ConceptSuite.Core.Limits;
using ConceptSuite.Core.Methods;
using ConceptSuite.Embedding.Data;
using TorchSharp;

namespace ConceptSuite.Embedding.Methods;

/// <summary>
/// A dataset artifact already in the store (one a client imported from its files), named as the
/// source "artifact:ID", as a built-in source is: a workflow takes the user's data through the same
/// dataset.import step (<c>-p dataset=artifact:ID</c>). Split "all" keeps the stored rows in order
/// (the first header.limit of them); "train" and "test" split the rows by a permutation drawn from
/// header.seed: the test part is the first round(test_fraction·N) rows of the permutation (at least
/// one, and at least one row is left for train), the train part the rest, each in permuted order, so
/// header.limit takes a random sample of a part even when the stored rows are sorted by class (an
/// image folder). The same seed and fraction always give the same disjoint parts. Rows keep their
/// labels, concept labels, masks and captions; a data set without captions gets "a photo of a
/// CLASS" per row (CLASS its class name, or "class LABEL" without class names), the caption form
/// Fashion-MNIST carries, so the naming bridge of discover-name-cbm runs on it.
/// </summary>
public sealed class StoredDatasetSource(StoredDatasetSourceOptions options, ArtifactStore store) : IDatasetSource
{
    const string Field = "header.options.id";

    public ImageDataset Load(int limit, long seed)
    {
        using var reader = Open();
        long n = reader.Entry("labels").Shape[0];
        var (rows, count) = Rows(n, limit, seed);
        using var scope = torch.NewDisposeScope();
        var whole = ImageDataset.Load(reader);
        var d = rows is null ? whole.Slice(0, count) : Take(whole, rows);
        var captions = d.Captions is { Count: > 0 } ? d.Captions : Captions(d);
        return (d with { Captions = captions }).DetachFromDisposeScope();
    }

    /// <summary>The whole stored data set is read, then the chosen rows copied out: both are counted.</summary>
    public long BytesFor(long limit)
    {
        using var reader = Open();
        long n = reader.Entry("labels").Shape[0];
        long perRow = reader.Entries.Values.Sum(e => e.RowBytes);
        long taken = limit > 0 ? Math.Min(limit, n) : n;
        return RequestBudget.Product(n + taken, perRow);
    }

    ArtifactReader Open()
    {
        if (!ArtifactId.IsValid(options.Id)) throw new InvalidInputException(Field, "must be an artifact id (64 lowercase hex characters): the source is \"artifact:ID\"");
        var (reader, _) = DatasetArtifacts.Open(store, options.Id, Field);
        return reader;
    }

    /// <summary>The rows of the split in the order taken (null: the first <c>count</c> stored rows).</summary>
    (long[]? Rows, long Count) Rows(long n, int limit, long seed)
    {
        if (options.Split == "all") return (null, limit > 0 ? Math.Min(limit, n) : n);
        if (n < 2) throw new InvalidInputException(Field, $"data set {options.Id[..12]} has {n} row(s); a train/test split needs at least 2");
        long test = Math.Clamp((long)Math.Round(options.TestFraction * n, MidpointRounding.AwayFromZero), 1, n - 1);
        using var g = new torch.Generator(unchecked((ulong)seed));
        using var perm = torch.randperm(n, generator: g);
        var order = perm.data<long>().ToArray();
        var part = options.Split == "test" ? order[..(int)test] : order[(int)test..];
        return limit > 0 && limit < part.Length ? (part[..limit], limit) : (part, part.Length);
    }

    static ImageDataset Take(ImageDataset d, long[] rows)
    {
        using var index = torch.tensor(rows);
        return d with
        {
            Images = d.Images.index_select(0, index),
            Labels = d.Labels.index_select(0, index),
            ConceptLabels = d.ConceptLabels?.index_select(0, index),
            ConceptMasks = d.ConceptMasks?.index_select(0, index),
            Captions = d.Captions is { Count: > 0 } c ? rows.Select(r => c[(int)r]).ToList() : null,
        };
    }

    static List<string> Captions(ImageDataset d) =>
        d.Labels.data<long>().Select(l => d.ClassNames.Count > l ? $"a photo of a {d.ClassNames[(int)l]}" : $"a photo of class {l}").ToList();
}

/// <summary>Options of <see cref="StoredDatasetSource"/>; the id is also given as the source's suffix ("artifact:ID").</summary>
public sealed record StoredDatasetSourceOptions(string Id, string Split, double TestFraction)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Text("id", "", "the dataset artifact (64 hex characters; or as the source's suffix, \"artifact:ID\")"),
        OptionSpec.Choice("split", "all", "all rows in stored order, or the train / test part of a seeded permutation (header.seed)", "all", "train", "test"),
        OptionSpec.Float("test_fraction", 0.2, "share of the rows in the test part", 0.01, 0.99),
    ];

    public static StoredDatasetSourceOptions From(OptionValues o) => new(o.Text("id"), o.Choice("split"), o.Float("test_fraction"));
}
