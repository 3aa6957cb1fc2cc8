using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using TorchSharp;

namespace ConceptSuite.Discovery.Abstractions;

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
