using System.Numerics;
using System.Runtime.CompilerServices;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Discovery.Numerics;

/// <summary>
/// Products with a row-sparse code matrix Z [b, C] that holds k non-zeros per row, given as values
/// V [b, k] at column indices I [b, k] (what a TopK selection returns), against a dense table T [C, D]
/// (a dictionary, one atom per row). Each product touches only the b·k selected atoms, O(b·k·D) work,
/// where the dense product with Z costs O(b·C·D) and a gather of the atoms materialises b·k·D floats:
/// <list type="bullet">
/// <item><see cref="Combine"/>: Z·T, row i = Σ_j V[i,j]·T[I[i,j]];</item>
/// <item><see cref="Dots"/>: the entries of R·Tᵀ at Z's pattern, D[i,j] = R[i]·T[I[i,j]];</item>
/// <item><see cref="ScatterAdd"/>: G += Zᵀ·R, row c of G gets Σ over (i,j) with I[i,j] = c of V[i,j]·R[i].</item>
/// </list>
/// These three are the forward pass and both weight gradients of a decoder (and the weight gradient of
/// an encoder) whose codes are a TopK selection. Float32, contiguous, CPU; rows run in parallel on
/// torch's thread count (<see cref="ScatterAdd"/> splits the table's rows among threads, so no two
/// threads write one row).
/// </summary>
public static class SparseRows
{
    /// <summary>Z·T: [b, D] with row i = Σ_j values[i,j]·table[indices[i,j]].</summary>
    public static Tensor Combine(Tensor values, Tensor indices, Tensor table)
    {
        var (b, k, c, d) = Check(values, indices, table);
        var output = zeros([b, d], ScalarType.Float32);
        if (b == 0 || d == 0) return output;
        unsafe
        {
            float* pv = NativeData.Floats(values), pt = NativeData.Floats(table), po = NativeData.Floats(output);
            long* pi = NativeData.Longs(indices);
            NativeData.Bands(b, NativeData.Threads(b / 16), (lo, hi) =>
            {
                for (long i = lo; i < hi; i++)
                    for (int j = 0; j < k; j++)
                        Axpy(pv[i * k + j], pt + pi[i * k + j] * d, po + i * d, d);
            });
        }
        return output;
    }

    /// <summary>R·Tᵀ at the selected entries: [b, k] with D[i,j] = rows[i]·table[indices[i,j]].</summary>
    public static Tensor Dots(Tensor rows, Tensor indices, Tensor table)
    {
        var (b, k, c, d) = Check(null, indices, table, rows);
        var output = zeros([b, k], ScalarType.Float32);
        if (b == 0 || k == 0) return output;
        unsafe
        {
            float* pr = NativeData.Floats(rows), pt = NativeData.Floats(table), po = NativeData.Floats(output);
            long* pi = NativeData.Longs(indices);
            NativeData.Bands(b, NativeData.Threads(b / 16), (lo, hi) =>
            {
                for (long i = lo; i < hi; i++)
                    for (int j = 0; j < k; j++)
                        po[i * k + j] = Dot(pr + i * d, pt + pi[i * k + j] * d, d);
            });
        }
        return output;
    }

    /// <summary>into += Zᵀ·R: for every (i, j), into[indices[i,j]] += values[i,j]·rows[i]. into is [C, D].</summary>
    public static void ScatterAdd(Tensor into, Tensor values, Tensor indices, Tensor rows)
    {
        var (b, k, c, d) = Check(values, indices, into, rows);
        if (b == 0 || k == 0 || d == 0) return;
        unsafe
        {
            float* pv = NativeData.Floats(values), pr = NativeData.Floats(rows), pg = NativeData.Floats(into);
            long* pi = NativeData.Longs(indices);
            // Each thread owns a band of the table's rows and applies only the entries that land in it.
            NativeData.Bands(c, NativeData.Threads(b * k * d / (1 << 16)), (lo, hi) =>
            {
                for (long e = 0; e < b * k; e++)
                {
                    long row = pi[e];
                    if (row >= lo && row < hi) Axpy(pv[e], pr + e / k * d, pg + row * d, d);
                }
            });
        }
    }

    /// <summary>Validates shapes, dtypes and index range; returns (b, k, C, D).</summary>
    static (long B, int K, long C, long D) Check(Tensor? values, Tensor indices, Tensor table, Tensor? rows = null)
    {
        static void Dense(Tensor t, ScalarType type, int rank, string name)
        {
            if (t.dtype != type || t.dim() != rank || !t.is_contiguous() || t.device_type != DeviceType.CPU)
                throw new ArgumentException($"{name} must be a contiguous {type} CPU tensor of rank {rank}", name);
        }
        Dense(indices, ScalarType.Int64, 2, nameof(indices));
        Dense(table, ScalarType.Float32, 2, nameof(table));
        if (values is not null) Dense(values, ScalarType.Float32, 2, nameof(values));
        if (values is not null && !values.shape.SequenceEqual(indices.shape)) throw new ArgumentException("values and indices must have one shape [b, k]", nameof(values));
        long b = indices.shape[0], c = table.shape[0], d = table.shape[1];
        if (rows is not null)
        {
            Dense(rows, ScalarType.Float32, 2, nameof(rows));
            if (rows.shape[0] != b || rows.shape[1] != d) throw new ArgumentException($"rows must be [{b}, {d}]", nameof(rows));
        }
        if (indices.numel() > 0)
        {
            long min = indices.min().item<long>(), max = indices.max().item<long>();
            if (min < 0 || max >= c) throw new ArgumentOutOfRangeException(nameof(indices), $"indices must lie in [0, {c}), got [{min}, {max}]");
        }
        return (b, (int)indices.shape[1], c, d);
    }

    /// <summary>y += a·x over n floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void Axpy(float a, float* x, float* y, long n)
    {
        long i = 0, w = Vector<float>.Count;
        var va = new Vector<float>(a);
        for (; i + w <= n; i += w)
            Unsafe.WriteUnaligned(y + i, Vector.FusedMultiplyAdd(va, Unsafe.ReadUnaligned<Vector<float>>(x + i), Unsafe.ReadUnaligned<Vector<float>>(y + i)));
        for (; i < n; i++) y[i] += a * x[i];
    }

    /// <summary>x·y over n floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe float Dot(float* x, float* y, long n)
    {
        long i = 0, w = Vector<float>.Count;
        Vector<float> s0 = Vector<float>.Zero, s1 = Vector<float>.Zero;
        for (; i + 2 * w <= n; i += 2 * w)
        {
            s0 = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(x + i), Unsafe.ReadUnaligned<Vector<float>>(y + i), s0);
            s1 = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(x + i + w), Unsafe.ReadUnaligned<Vector<float>>(y + i + w), s1);
        }
        for (; i + w <= n; i += w)
            s0 = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(x + i), Unsafe.ReadUnaligned<Vector<float>>(y + i), s0);
        float s = Vector.Sum(s0 + s1);
        for (; i < n; i++) s += x[i] * y[i];
        return s;
    }
}
