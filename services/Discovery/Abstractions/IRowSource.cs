using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using TorchSharp;

namespace ConceptSuite.Discovery.Abstractions;

/// <summary>
/// Re-readable activation rows: samples as float32 blocks [b, D]. Spatial activations
/// [N, C, H, W] and token activations [N, T, D] are read as N·H·W (or N·T) samples of width C (D).
/// </summary>
public interface IRowSource
{
    /// <summary>Number of samples.</summary>
    long Samples { get; }
    /// <summary>Sample width D.</summary>
    int Dim { get; }
    /// <summary>
    /// The samples as blocks of about <paramref name="samplesPerBlock"/> rows. With a shuffle seed
    /// the block order and the rows inside each block are permuted (a different order per seed).
    /// The caller disposes each block.
    /// </summary>
    IEnumerable<torch.Tensor> Blocks(int samplesPerBlock, long? shuffleSeed = null);
}
