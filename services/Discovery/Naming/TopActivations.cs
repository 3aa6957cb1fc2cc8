using ConceptSuite.Discovery.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Discovery.Naming;

/// <summary>
/// The k samples with the largest coefficient of each concept, found in one streamed pass (memory
/// O(C·k) plus a block), with each concept's firing count (coefficient &gt; 0) and the distribution of
/// its positive coefficients over fixed log10 bins.
/// </summary>
public static class TopActivations
{
    /// <summary>Density bins: log10(value) from <see cref="DensityMinLog10"/> in steps of <see cref="DensityBinLog10"/>.</summary>
    public const double DensityMinLog10 = -6, DensityBinLog10 = 0.25;
    public const int DensityBins = 48;

    /// <param name="Firing">Per concept: scanned samples with coefficient &gt; 0.</param>
    /// <param name="Density">Per concept: counts of positive coefficients per log10 bin.</param>
    public sealed record Result(long[][] Samples, float[][] Values, long[] Firing, long[][] Density, long Scanned);

    public static Result Find(IConceptDictionary dict, IRowSource data, int[] concepts, int k, CancellationToken ct = default)
    {
        using var scope = NewDisposeScope();
        using var sel = tensor(concepts.Select(c => (long)c).ToArray());
        var vals = full(concepts.Length, 0, float.NegativeInfinity);
        var idx = full(concepts.Length, 0, -1L, ScalarType.Int64);
        var density = zeros(concepts.Length, DensityBins, ScalarType.Int64);
        long offset = 0;
        foreach (var block in data.Blocks(8192))
        {
            using var s = NewDisposeScope();
            ct.ThrowIfCancellationRequested();
            var z = dict.Encode(block).index_select(1, sel).t();                 // [c', b]
            var fires = z.gt(0);
            var bin = z.clamp_min(1e-30).log10().sub(DensityMinLog10).div(DensityBinLog10).floor().clamp(0, DensityBins - 1).to_type(ScalarType.Int64);
            density.scatter_add_(1, bin, fires.to_type(ScalarType.Int64));
            var ids = arange(offset, offset + block.shape[0], ScalarType.Int64).unsqueeze(0).expand(concepts.Length, -1);
            var allVals = cat([vals, z], 1);
            var allIdx = cat([idx, ids], 1);
            int keep = (int)Math.Min(k, allVals.shape[1]);
            var (tv, ti) = allVals.topk(keep, dim: 1);
            vals = tv.MoveToOuterDisposeScope();
            idx = allIdx.gather(1, ti).MoveToOuterDisposeScope();
            offset += block.shape[0];
            block.Dispose();
        }
        var samples = new long[concepts.Length][];
        var values = new float[concepts.Length][];
        var iv = idx.contiguous().data<long>().ToArray();
        var vv = vals.contiguous().data<float>().ToArray();
        int width = (int)idx.shape[1];
        for (int c = 0; c < concepts.Length; c++)
        {
            var sList = new List<long>(); var vList = new List<float>();
            for (int j = 0; j < width; j++)
            {
                long id = iv[c * width + j];
                if (id < 0) continue;
                sList.Add(id); vList.Add(vv[c * width + j]);
            }
            samples[c] = sList.ToArray(); values[c] = vList.ToArray();
        }
        var counts = density.contiguous().data<long>().ToArray();
        var perConcept = Enumerable.Range(0, concepts.Length).Select(c => counts.AsSpan(c * DensityBins, DensityBins).ToArray()).ToArray();
        return new Result(samples, values, perConcept.Select(d => d.Sum()).ToArray(), perConcept, offset);
    }
}
