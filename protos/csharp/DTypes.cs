namespace ConceptSuite.Contracts;

/// <summary>Wire facts about <see cref="DType"/>.</summary>
public static class DTypes
{
    /// <summary>Bytes per element; throws for DTYPE_UNSPECIFIED or an unknown value.</summary>
    public static int ElementSize(DType dtype, string field = "dtype") => dtype switch
    {
        DType.Float32 or DType.Int32 => 4,
        DType.Float64 or DType.Int64 => 8,
        DType.Float16 or DType.Bfloat16 => 2,
        DType.Uint8 or DType.Bool => 1,
        _ => throw new InvalidInputException(field, $"unsupported dtype {dtype}"),
    };

    /// <summary>product(dims), checked for negative entries and overflow of the byte count.</summary>
    public static long Elements(IReadOnlyList<long> shape, string field = "shape")
    {
        long n = 1;
        for (int i = 0; i < shape.Count; i++)
        {
            if (shape[i] < 0) throw new InvalidInputException($"{field}[{i}]", $"dimension must be >= 0, got {shape[i]}");
            try { n = checked(n * shape[i]); }
            catch (OverflowException) { throw new InvalidInputException(field, "element count overflows int64"); }
        }
        return n;
    }

    /// <summary>Byte size of a tensor of this dtype and shape, checked for overflow.</summary>
    public static long ByteSize(DType dtype, IReadOnlyList<long> shape, string field = "tensor")
    {
        long n = Elements(shape, field + ".shape");
        try { return checked(n * ElementSize(dtype, field + ".dtype")); }
        catch (OverflowException) { throw new InvalidInputException(field + ".shape", "byte size overflows int64"); }
    }

    /// <summary>Checks that a tensor's bytes match its dtype and shape.</summary>
    public static void Validate(Tensor tensor, string field = "tensor")
    {
        if (tensor is null) throw new InvalidInputException(field, "is required");
        long expected = ByteSize(tensor.Dtype, tensor.Shape, field);
        if (tensor.Data.Length != expected)
            throw new InvalidInputException(field + ".data",
                $"has {tensor.Data.Length} bytes but dtype {tensor.Dtype} and shape [{string.Join(", ", tensor.Shape)}] need {expected}");
        if (tensor.Dtype == DType.Bool)
        {
            var span = tensor.Data.Span;
            for (int i = 0; i < span.Length; i++)
                if (span[i] > 1) throw new InvalidInputException(field + ".data", $"bool element {i} is {span[i]}, must be 0 or 1");
        }
    }
}
