using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using TorchSharp;

namespace ConceptSuite.Discovery.Abstractions;

/// <summary>Rows held in memory (tests, small fits, in-memory baselines).</summary>
public sealed class TensorRowSource : IRowSource
{
    readonly torch.Tensor _x;

    /// <param name="x">float32 [N, D], [N, T, D] or [N, C, H, W]; kept, not copied.</param>
    public TensorRowSource(torch.Tensor x)
    {
        _x = SampleLayout.ToSamples(x.to_type(torch.ScalarType.Float32)).contiguous();
        Samples = _x.shape[0];
        Dim = (int)_x.shape[1];
    }

    public long Samples { get; }
    public int Dim { get; }

    public IEnumerable<torch.Tensor> Blocks(int samplesPerBlock, long? shuffleSeed = null)
    {
        if (samplesPerBlock <= 0) throw new ArgumentOutOfRangeException(nameof(samplesPerBlock));
        long blocks = (Samples + samplesPerBlock - 1) / samplesPerBlock;
        if (shuffleSeed is { } seed)
        {
            using var g = new torch.Generator((ulong)seed);
            using var perm = torch.randperm(Samples, generator: g);
            for (long b = 0; b < blocks; b++)
            {
                long s = b * samplesPerBlock, n = Math.Min(samplesPerBlock, Samples - s);
                using var idx = perm.narrow(0, s, n);
                yield return _x.index_select(0, idx);
            }
            yield break;
        }
        for (long b = 0; b < blocks; b++)
        {
            long s = b * samplesPerBlock, n = Math.Min(samplesPerBlock, Samples - s);
            yield return _x.narrow(0, s, n).alias();
        }
    }
}
