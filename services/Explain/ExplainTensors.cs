
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain;

/// <summary>Input checks and conversions shared by the stage's methods (float64 CPU math, named fields).</summary>
public static class ExplainTensors
{
    /// <summary>A 2-D floating matrix [N, D] as float64, finite, with at least <paramref name="minRows"/> rows.</summary>
    public static Tensor Matrix(Tensor x, string field, int minRows = 1)
    {
        if (x.dim() != 2) throw new Contracts.InvalidInputException(field, $"expected a matrix [N, D], got shape [{string.Join(", ", x.shape)}]");
        if (!x.is_floating_point()) throw new Contracts.InvalidInputException(field, $"expected a floating dtype, got {x.dtype}");
        if (x.shape[0] < minRows) throw new Contracts.InvalidInputException(field, $"needs at least {minRows} rows (samples), got {x.shape[0]}");
        if (x.shape[1] < 1) throw new Contracts.InvalidInputException(field, "needs at least one column");
        var d = x.to_type(ScalarType.Float64);
        if (!torch.isfinite(d).all().item<bool>()) throw new Contracts.InvalidInputException(field, "contains NaN or Inf");
        return d;
    }

    /// <summary>Two matrices that describe the same N samples (row counts must agree).</summary>
    public static (Tensor A, Tensor B) Pair(Tensor a, Tensor b, int minRows, string fieldA = "a", string fieldB = "b")
    {
        var x = Matrix(a, fieldA, minRows);
        var y = Matrix(b, fieldB, minRows);
        if (x.shape[0] != y.shape[0])
            throw new Contracts.InvalidInputException(fieldB, $"row count {y.shape[0]} differs from {fieldA}'s {x.shape[0]}: both sides must describe the same samples");
        return (x, y);
    }

    /// <summary>Columns centred to zero mean.</summary>
    public static Tensor Center(Tensor x) => x - x.mean([0], keepdim: true);

    /// <summary>A float64 matrix copied into a managed array.</summary>
    public static double[,] ToArray2D(Tensor x)
    {
        var t = x.to_type(ScalarType.Float64).contiguous().cpu();
        long n = t.shape[0], m = t.shape[1];
        var flat = t.data<double>().ToArray();
        var r = new double[n, m];
        Buffer.BlockCopy(flat, 0, r, 0, flat.Length * sizeof(double));
        return r;
    }

    /// <summary>A managed array as a float64 tensor.</summary>
    public static Tensor FromArray2D(double[,] a)
    {
        int n = a.GetLength(0), m = a.GetLength(1);
        var flat = new double[n * m];
        Buffer.BlockCopy(a, 0, flat, 0, flat.Length * sizeof(double));
        return torch.tensor(flat, [n, m], ScalarType.Float64);
    }

    /// <summary>NumPy's median (mean of the two middle values for an even count).</summary>
    public static double Median(Tensor x)
    {
        var s = x.flatten().to_type(ScalarType.Float64).sort().Values.data<double>().ToArray();
        if (s.Length == 0) throw new ArgumentException("median of an empty tensor");
        int h = s.Length / 2;
        return s.Length % 2 == 1 ? s[h] : 0.5 * (s[h - 1] + s[h]);
    }
}
