namespace ConceptSuite.Contracts;

/// <summary>Limits and rules a receiver applies to a block stream.</summary>
public sealed record TensorStreamRules
{
    /// <summary>Upper bound on the payload bytes of the whole stream (all tensors).</summary>
    public long MaxTotalBytes { get; init; } = 64L << 30;
    /// <summary>Reject NaN and ±Inf in floating-point blocks.</summary>
    public bool RejectNonFinite { get; init; }
    /// <summary>Reject a stream that carries no block at all.</summary>
    public bool RejectEmpty { get; init; } = true;
    /// <summary>Required dtype, or null for any.</summary>
    public DType? RequiredDType { get; init; }
    /// <summary>Required rank (including the row dimension), or null for any.</summary>
    public int? RequiredRank { get; init; }
    /// <summary>Field name used in error messages ("blocks", "activations", ...).</summary>
    public string Field { get; init; } = "blocks";
}

/// <summary>
/// Checks each block of a stream as it arrives, without holding the stream: bytes match shape and
/// dtype, dtype and trailing dims never change, row offsets tile without gaps or overlaps, the
/// declared total shape is kept, the size limit holds, and (optionally) values are finite.
/// One instance per stream; tensors are told apart by <see cref="TensorBlock.Name"/>.
/// </summary>
public sealed class TensorStreamValidator(TensorStreamRules? rules = null)
{
    readonly TensorStreamRules _rules = rules ?? new TensorStreamRules();
    readonly Dictionary<string, State> _states = new();
    long _totalBytes;
    long _blocks;

    sealed class State
    {
        public DType DType;
        public long[] Trailing = [];
        public long[] DeclaredTotal = [];
        public long NextRow;
    }

    /// <summary>Names of the tensors seen so far, in order of first appearance.</summary>
    public IReadOnlyCollection<string> Names => _states.Keys;

    /// <summary>Rows received so far for <paramref name="name"/>.</summary>
    public long Rows(string name = "") => _states.TryGetValue(name, out var s) ? s.NextRow : 0;

    /// <summary>Shape of what has been received for <paramref name="name"/>.</summary>
    public long[] Shape(string name = "")
    {
        var s = _states[name];
        return [s.NextRow, .. s.Trailing];
    }

    /// <summary>Element type of <paramref name="name"/>.</summary>
    public DType DTypeOf(string name = "") => _states[name].DType;

    /// <summary>Total payload bytes so far.</summary>
    public long TotalBytes => _totalBytes;

    /// <summary>Validates the next block; throws <see cref="InvalidInputException"/> naming the rule.</summary>
    public void Accept(TensorBlock block)
    {
        string f = $"{_rules.Field}[{_blocks}]";
        if (block.Tensor is null) throw new InvalidInputException(f + ".tensor", "is required");
        var t = block.Tensor;
        DTypes.Validate(t, f + ".tensor");
        if (t.Shape.Count == 0) throw new InvalidInputException(f + ".tensor.shape", "a block needs a row dimension");
        if (_rules.RequiredDType is { } want && t.Dtype != want)
            throw new InvalidInputException(f + ".tensor.dtype", $"must be {want}, got {t.Dtype}");
        if (_rules.RequiredRank is { } rank && t.Shape.Count != rank)
            throw new InvalidInputException(f + ".tensor.shape", $"must have rank {rank}, got [{string.Join(", ", t.Shape)}]");
        if (block.Ids.Count != 0 && block.Ids.Count != t.Shape[0])
            throw new InvalidInputException(f + ".ids", $"has {block.Ids.Count} ids for {t.Shape[0]} rows");

        long[] trailing = t.Shape.Skip(1).ToArray();
        if (!_states.TryGetValue(block.Name, out var s))
        {
            s = new State { DType = t.Dtype, Trailing = trailing };
            if (block.TotalShape.Count > 0)
            {
                s.DeclaredTotal = block.TotalShape.ToArray();
                if (s.DeclaredTotal[0] < -1)
                    throw new InvalidInputException(f + ".total_shape[0]", "must be >= 0, or -1 for unknown");
                DTypes.Elements(s.DeclaredTotal.Skip(1).ToArray(), f + ".total_shape");
            }
            _states[block.Name] = s;
        }
        else if (t.Dtype != s.DType)
        {
            throw new InvalidInputException(f + ".tensor.dtype", $"changed mid-stream from {s.DType} to {t.Dtype}");
        }
        if (!trailing.AsSpan().SequenceEqual(s.Trailing))
            throw new InvalidInputException(f + ".tensor.shape",
                $"trailing dims [{string.Join(", ", trailing)}] differ from the stream's [{string.Join(", ", s.Trailing)}]");
        if (s.DeclaredTotal.Length > 0)
        {
            if (s.DeclaredTotal.Length != t.Shape.Count || !s.DeclaredTotal.AsSpan(1).SequenceEqual(trailing))
                throw new InvalidInputException(f + ".total_shape",
                    $"[{string.Join(", ", s.DeclaredTotal)}] does not match block shape [{string.Join(", ", t.Shape)}]");
            if (block.TotalShape.Count > 0 && block.TotalShape[0] != s.DeclaredTotal[0])
                throw new InvalidInputException(f + ".total_shape[0]", "changed mid-stream");
        }
        if (block.RowOffset != s.NextRow)
            throw new InvalidInputException(f + ".row_offset",
                block.RowOffset > s.NextRow
                    ? $"gap: expected row {s.NextRow}, got {block.RowOffset}"
                    : $"overlap: expected row {s.NextRow}, got {block.RowOffset}");
        long end = s.NextRow + t.Shape[0];
        if (s.DeclaredTotal.Length > 0 && s.DeclaredTotal[0] >= 0 && end > s.DeclaredTotal[0])
            throw new InvalidInputException(f + ".tensor.shape", $"rows run to {end}, past the declared total {s.DeclaredTotal[0]}");
        _totalBytes += t.Data.Length;
        if (_totalBytes > _rules.MaxTotalBytes)
            throw new InvalidInputException(_rules.Field, $"stream exceeds the limit of {_rules.MaxTotalBytes} bytes");
        if (_rules.RejectNonFinite) CheckFinite(t, f + ".tensor.data");
        s.NextRow = end;
        _blocks++;
    }

    /// <summary>Call when the stream ended: checks declared totals were reached and emptiness.</summary>
    public void Complete()
    {
        if (_rules.RejectEmpty && _states.Count == 0) throw new InvalidInputException(_rules.Field, "stream is empty");
        foreach (var (name, s) in _states)
            if (s.DeclaredTotal.Length > 0 && s.DeclaredTotal[0] >= 0 && s.NextRow != s.DeclaredTotal[0])
                throw new InvalidInputException(_rules.Field,
                    $"tensor '{name}' ended after {s.NextRow} rows, total_shape declared {s.DeclaredTotal[0]}");
    }

    /// <summary>Throws if a float tensor holds NaN or ±Inf; names the first bad element.</summary>
    public static void CheckFinite(Tensor t, string field)
    {
        var span = t.Data.Span;
        switch (t.Dtype)
        {
            case DType.Float32:
            {
                var v = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(span);
                for (int i = 0; i < v.Length; i++)
                    if (!float.IsFinite(v[i])) throw new InvalidInputException(field, $"element {i} is {v[i]}; NaN and Inf are not allowed");
                break;
            }
            case DType.Float64:
            {
                var v = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(span);
                for (int i = 0; i < v.Length; i++)
                    if (!double.IsFinite(v[i])) throw new InvalidInputException(field, $"element {i} is {v[i]}; NaN and Inf are not allowed");
                break;
            }
            case DType.Float16:
            {
                var v = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(span);
                for (int i = 0; i < v.Length; i++)
                    if (!Half.IsFinite(v[i])) throw new InvalidInputException(field, $"element {i} is {v[i]}; NaN and Inf are not allowed");
                break;
            }
            case DType.Bfloat16:
            {
                var v = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(span);
                for (int i = 0; i < v.Length; i++)
                    if ((v[i] & 0x7f80) == 0x7f80) throw new InvalidInputException(field, $"element {i} is not finite; NaN and Inf are not allowed");
                break;
            }
        }
    }
}
