using System.Numerics;
using System.Runtime.CompilerServices;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Discovery.Numerics;

/// <summary>
/// The two row operations that keep a dictionary's atoms (rows of W [C, D]) at unit norm during
/// training, each one pass over the rows (torch's expressions of them run three to four element-wise
/// passes and allocate temporaries of W's size). Float32, contiguous, CPU; rows run in parallel.
/// </summary>
public static class UnitRows
{
    /// <summary>Whether the kernels take <paramref name="t"/> (a contiguous float32 CPU matrix).</summary>
    public static bool Fits(Tensor t) =>
        t.device_type == DeviceType.CPU && t.dtype == ScalarType.Float32 && t.dim() == 2 && t.is_contiguous();

    /// <summary>g_r ← g_r − (g_r·w_r)·w_r for every row r: removes from the gradient its component along each (unit) atom.</summary>
    public static void RemoveComponents(Tensor g, Tensor w)
    {
        if (!Fits(g) || !Fits(w) || !g.shape.SequenceEqual(w.shape)) throw new ArgumentException("g and w must be contiguous float32 CPU matrices of one shape", nameof(g));
        long c = w.shape[0], d = w.shape[1];
        unsafe
        {
            float* pg = NativeData.Floats(g), pw = NativeData.Floats(w);
            NativeData.Bands(c, NativeData.Threads(c * d / (1 << 16)), (lo, hi) =>
            {
                for (long r = lo; r < hi; r++) SparseRows.Axpy(-SparseRows.Dot(pg + r * d, pw + r * d, d), pw + r * d, pg + r * d, d);
            });
        }
    }

    /// <summary>w_r ← w_r / max(||w_r||, 1e-12) for every row r.</summary>
    public static void Normalize(Tensor w)
    {
        if (!Fits(w)) throw new ArgumentException("w must be a contiguous float32 CPU matrix", nameof(w));
        long c = w.shape[0], d = w.shape[1];
        unsafe
        {
            float* pw = NativeData.Floats(w);
            NativeData.Bands(c, NativeData.Threads(c * d / (1 << 16)), (lo, hi) =>
            {
                for (long r = lo; r < hi; r++)
                {
                    float* row = pw + r * d;
                    float norm = MathF.Max(MathF.Sqrt(SparseRows.Dot(row, row, d)), 1e-12f);
                    long j = 0, width = Vector<float>.Count;
                    var vn = new Vector<float>(norm);
                    for (; j + width <= d; j += width) Unsafe.WriteUnaligned(row + j, Unsafe.ReadUnaligned<Vector<float>>(row + j) / vn);
                    for (; j < d; j++) row[j] /= norm;
                }
            });
        }
    }
}
