using ConceptSuite.Core.Data;
using ConceptSuite.Core.Methods;

namespace ConceptSuite.Embedding.Methods;

/// <summary>
/// Fashion-MNIST (Xiao, Rasul &amp; Vollgraf 2017): 28×28 grey images of ten clothing classes,
/// 60 000 train and 10 000 test, from the Debian package dataset-fashion-mnist (<see cref="FashionMnist"/>).
/// </summary>
public sealed class FashionMnistSource(FashionMnistSourceOptions options) : IDatasetSource
{
    public ImageDataset Load(int limit, long seed) => FashionMnist.Load(options.Split, limit > 0 ? limit : null);

    /// <summary>28×28 bytes and an int64 label per row; the package's split bounds the rows (60 000 train, 10 000 test).</summary>
    public long BytesFor(long limit) => Math.Min(limit > 0 ? limit : long.MaxValue, options.Split == "train" ? 60_000 : 10_000) * (28 * 28 + 8);
}

/// <summary>Options of <see cref="FashionMnistSource"/>.</summary>
public sealed record FashionMnistSourceOptions(string Split)
{
    public static readonly IReadOnlyList<OptionSpec> Schema = [OptionSpec.Choice("split", "train", "which split", "train", "test")];
    public static FashionMnistSourceOptions From(OptionValues o) => new(o.Choice("split"));
}
