using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Data;

namespace ConceptSuite.Embedding.Methods;

/// <summary>
/// A built-in data set an ImportDataset header names as its source (family "dataset_source",
/// <see cref="DatasetSources"/>): an image set (<see cref="IDatasetSource"/>) or a text corpus
/// (<see cref="ITextSource"/>). Its options come parsed into the source's own record.
/// </summary>
public interface IDataSource
{
    /// <summary>Bytes loading <paramref name="limit"/> rows (0: all) would allocate, checked against the call budget first.</summary>
    long BytesFor(long limit);
}

/// <summary>A built-in image set, stored as a "dataset" artifact.</summary>
public interface IDatasetSource : IDataSource
{
    /// <summary>The data set's rows.</summary>
    /// <param name="limit">Rows to take; 0 for all (a generator may require it).</param>
    /// <param name="seed">Seed of a generated source (header.seed).</param>
    ImageDataset Load(int limit, long seed);
}

/// <summary>A built-in text corpus, stored as a "texts" artifact.</summary>
public interface ITextSource : IDataSource
{
    /// <param name="limit">Texts to take; 0 for all.</param>
    /// <param name="seed">Seed of the sample drawn when a limit is given (header.seed).</param>
    TextDataset LoadTexts(int limit, long seed);
}

/// <summary>Builds a source (its options already parsed) over the stage's artifact store, which a stored-dataset source reads.</summary>
public delegate IDataSource DatasetSourceFactory(ArtifactStore store);
