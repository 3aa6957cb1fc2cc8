using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Data;

namespace ConceptSuite.Embedding.Methods;

/// <summary>
/// A built-in data set an ImportDataset header names as its source (family "dataset_source",
/// <see cref="DatasetSources"/>): its options come parsed into the source's own record.
/// </summary>
public interface IDatasetSource
{
    /// <summary>The data set's rows.</summary>
    /// <param name="limit">Rows to take; 0 for all (a generator may require it).</param>
    /// <param name="seed">Seed of a generated source (header.seed).</param>
    ImageDataset Load(int limit, long seed);

    /// <summary>Bytes <see cref="Load"/> would allocate for <paramref name="limit"/> rows (0: all), checked against the call budget first.</summary>
    long BytesFor(long limit);
}

/// <summary>Builds a source (its options already parsed) over the stage's artifact store, which a stored-dataset source reads.</summary>
public delegate IDatasetSource DatasetSourceFactory(ArtifactStore store);
