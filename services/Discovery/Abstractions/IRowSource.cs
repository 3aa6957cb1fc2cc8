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

/// <summary>Spatial layouts: [N, C, H, W] and [N, T, D] ↔ sample rows.</summary>
public static class SampleLayout
{
    /// <summary>Width of one sample for an activation shape (without the row dimension).</summary>
    public static int Dim(IReadOnlyList<long> trailing, string field) => trailing.Count switch
    {
        1 => checked((int)trailing[0]),
        2 => checked((int)trailing[1]),
        3 => checked((int)trailing[0]),
        _ => throw new InvalidInputException(field, $"activations must be [N, D], [N, T, D] or [N, C, H, W]; got rank {trailing.Count + 1}"),
    };

    /// <summary>Samples per row (H·W, T or 1).</summary>
    public static long Positions(IReadOnlyList<long> trailing) => trailing.Count switch
    {
        2 => trailing[0],
        3 => trailing[1] * trailing[2],
        _ => 1,
    };

    /// <summary>[n, D] | [n, T, D] | [n, C, H, W] → [samples, D].</summary>
    public static torch.Tensor ToSamples(torch.Tensor x) => x.dim() switch
    {
        2 => x,
        3 => x.reshape(-1, x.shape[2]),
        4 => x.permute(0, 2, 3, 1).reshape(-1, x.shape[1]),
        _ => throw new InvalidInputException("tensor.shape", $"must be [n, D], [n, T, D] or [n, C, H, W]; got rank {x.dim()}"),
    };

    /// <summary>Samples [n·P, K] back to the layout of <paramref name="like"/> with K channels.</summary>
    public static torch.Tensor FromSamples(torch.Tensor samples, long[] likeShape)
    {
        long k = samples.shape[1];
        return likeShape.Length switch
        {
            2 => samples,
            3 => samples.reshape(likeShape[0], likeShape[1], k),
            4 => samples.reshape(likeShape[0], likeShape[2], likeShape[3], k).permute(0, 3, 1, 2).contiguous(),
            _ => throw new InvalidInputException("tensor.shape", $"unsupported rank {likeShape.Length}"),
        };
    }

    /// <summary>Channel dim of a layout (1 for [n, C, H, W], last otherwise).</summary>
    public static int ChannelDim(int rank) => rank == 4 ? 1 : rank - 1;
}

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

/// <summary>
/// Rows of a stored activation tensor, read in blocks (N may exceed memory; memory is one block).
/// Non-finite values fail with InvalidInputException naming <see cref="Field"/>.
/// </summary>
public sealed class ArtifactRowSource : IRowSource
{
    readonly ArtifactStore _store;
    readonly string _id;
    readonly string _tensor;
    readonly long _rows;
    readonly long _positions;

    public ArtifactRowSource(ArtifactStore store, string id, string tensor, string field = "activations")
    {
        _store = store; _id = id; _tensor = tensor; Field = field;
        using var r = store.Open(id, field + ".id");
        var e = r.Entry(tensor, field + ".tensor");
        if (e.DType is not (DType.Float32 or DType.Float16 or DType.Bfloat16 or DType.Float64))
            throw new InvalidInputException(field, $"tensor '{tensor}' must be floating point, got {e.DType}");
        if (e.Shape.Length < 2) throw new InvalidInputException(field, $"tensor '{tensor}' must be [N, D], [N, T, D] or [N, C, H, W]");
        var trailing = e.Shape.Skip(1).ToArray();
        Dim = SampleLayout.Dim(trailing, field + ".shape");
        _positions = SampleLayout.Positions(trailing);
        _rows = e.Shape[0];
        Samples = _rows * _positions;
        Shape = e.Shape.ToArray();
    }

    public string Field { get; }
    public long Samples { get; }
    public int Dim { get; }
    /// <summary>Stored shape [N, ...].</summary>
    public long[] Shape { get; }

    public IEnumerable<torch.Tensor> Blocks(int samplesPerBlock, long? shuffleSeed = null)
    {
        if (samplesPerBlock <= 0) throw new ArgumentOutOfRangeException(nameof(samplesPerBlock));
        long rowsPer = Math.Max(1, samplesPerBlock / _positions);
        long blocks = (_rows + rowsPer - 1) / rowsPer;
        var order = Enumerable.Range(0, checked((int)blocks)).ToArray();
        torch.Generator? g = null;
        if (shuffleSeed is { } seed)
        {
            new Random(unchecked((int)seed)).Shuffle(order);
            g = new torch.Generator((ulong)seed);
        }
        try
        {
            using var reader = _store.Open(_id, Field + ".id");
            foreach (var b in order)
            {
                long start = b * rowsPer, n = Math.Min(rowsPer, _rows - start);
                torch.Tensor block;
                using (var scope = torch.NewDisposeScope())
                {
                    // The read tensor borrows a pinned managed buffer that lives only as long as
                    // it does: the block handed out is always a copy of its own.
                    var raw = reader.ReadRows(_tensor, start, n);
                    var f = raw.to_type(torch.ScalarType.Float32);
                    if (!f.isfinite().all().item<bool>())
                        throw new InvalidInputException(Field, $"rows [{start}, {start + n}) hold NaN or Inf");
                    block = SampleLayout.ToSamples(f).contiguous().clone().MoveToOuterDisposeScope();
                }
                if (g is not null)
                {
                    using var perm = torch.randperm(block.shape[0], generator: g);
                    var shuffled = block.index_select(0, perm);
                    block.Dispose();
                    block = shuffled;
                }
                yield return block;
            }
        }
        finally { g?.Dispose(); }
    }
}

/// <summary>Helpers over row sources.</summary>
public static class RowSources
{
    /// <summary>One pass: finite check, min, max.</summary>
    public static DataStats Scan(IRowSource data, string field, CancellationToken ct = default)
    {
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (var b in data.Blocks(65536))
        {
            using var _ = b;
            ct.ThrowIfCancellationRequested();
            if (b.numel() == 0) continue;
            if (!b.isfinite().all().item<bool>()) throw new InvalidInputException(field, "holds NaN or Inf");
            min = Math.Min(min, b.min().item<float>());
            max = Math.Max(max, b.max().item<float>());
        }
        return new DataStats(data.Samples, data.Dim, min, max, field);
    }

    /// <summary>The first <paramref name="count"/> samples (or all) as one tensor.</summary>
    public static torch.Tensor Head(IRowSource data, long count, long? shuffleSeed = null)
    {
        var parts = new List<torch.Tensor>();
        long have = 0;
        foreach (var b in data.Blocks((int)Math.Min(count, 65536), shuffleSeed))
        {
            if (have >= count) { b.Dispose(); break; }
            long take = Math.Min(b.shape[0], count - have);
            parts.Add(take == b.shape[0] ? b : b.narrow(0, 0, take));
            have += take;
        }
        try { return parts.Count == 1 ? parts[0].clone() : torch.cat(parts, 0); }
        finally { foreach (var p in parts) p.Dispose(); }
    }

    /// <summary>All samples in memory (only below the in-memory threshold).</summary>
    public static torch.Tensor All(IRowSource data) => Head(data, data.Samples);
}
