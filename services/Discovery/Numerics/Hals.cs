using System.Numerics;
using System.Runtime.CompilerServices;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Discovery.Numerics;

/// <summary>
/// Hierarchical alternating least squares (Cichocki &amp; Phan 2009) for the non-negative least-squares
/// problem behind every HALS step of NMF, in the transposed layout NMF keeps its factors in: Xᵀ [c, m]
/// holds one code per column (a sample's coefficients when solving Uᵀ, a feature's column of W when
/// solving W), G [c, c] is the symmetric Gram matrix (WWᵀ or UᵀU) and Bᵀ [c, m] the data product
/// (WAᵀ or UᵀA); each column solves min_{x ≥ floor} ½xᵀGx − bᵀx. Columns are independent, so a tile of
/// adjacent columns (one per SIMD lane) runs its coordinate sweeps while its codes and residuals stay
/// in cache: x_j ← max(floor, x_j + r_j / G_jj), then r ← r − (x_j − old)·G_j, with r = b − G x kept up
/// to date (no dot products). Several sweeps per call are the accelerated HALS of Gillis &amp; Glineur
/// (2012): the expensive B and G are reused while a tile's sweep still moves it by more than
/// √<c>stop</c> of its first sweep. Each sweep is an exact coordinate-block minimisation per column, so
/// the objective never increases. Tiles run in parallel on torch's thread count.
/// </summary>
public static class Hals
{
    /// <summary>
    /// Runs up to <paramref name="maxSweeps"/> sweeps on every column of <paramref name="xt"/> (float32
    /// [c, m], contiguous, updated in place) against <paramref name="bt"/> [c, m] and
    /// <paramref name="gram"/> [c, c]. A tile of columns stops early when its squared move in a sweep
    /// is at most <paramref name="stop"/> times that of its first sweep (0: only when it stops moving).
    /// Coordinates with G_jj ≤ 0 are left as they are.
    /// </summary>
    public static void Solve(Tensor xt, Tensor bt, Tensor gram, float floor, int maxSweeps, double stop = 0)
    {
        if (xt.dtype != ScalarType.Float32 || xt.dim() != 2 || !xt.is_contiguous() || xt.device_type != DeviceType.CPU)
            throw new ArgumentException("xt must be a contiguous float32 CPU matrix [c, m]", nameof(xt));
        int c = (int)xt.shape[0];
        long m = xt.shape[1];
        if (!bt.shape.SequenceEqual(xt.shape)) throw new ArgumentException($"bt must be [{c}, {m}]", nameof(bt));
        if (!gram.shape.SequenceEqual(new long[] { c, c })) throw new ArgumentException($"gram must be [{c}, {c}]", nameof(gram));
        if (m == 0 || c == 0 || maxSweeps <= 0) return;
        using var scope = NewDisposeScope();
        var g32 = gram.to_type(ScalarType.Float32).cpu().contiguous();
        var g = g32.data<float>().ToArray();
        // r = b − G x for every column (the negative gradient).
        var r = addmm(bt.to_type(ScalarType.Float32).cpu(), g32, xt, beta: 1, alpha: -1).contiguous();
        var inv = new float[c];
        for (int j = 0; j < c; j++) inv[j] = g[j * c + j] > 0 ? 1f / g[j * c + j] : 0f;
        int lanes = Vector<float>.Count * Group;
        long tiles = (m + lanes - 1) / lanes;
        unsafe
        {
            float* px = NativeData.Floats(xt), pr = NativeData.Floats(r);
            NativeData.Bands(tiles, NativeData.Threads(tiles / 32), (lo, hi) => SolveTiles(px, pr, m, c, g, inv, lo, hi, floor, maxSweeps, stop));
        }
    }

    /// <summary>
    /// Tiles [lo, hi): each is copied into a dense [c, lanes] buffer (in place, its c rows would lie a
    /// multiple of 4 KiB apart for many m and share one set of the L1 cache), solved, and copied back.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void SolveTiles(float* px, float* pr, long m, int c, float[] g, float[] inv, long lo, long hi, float floor, int maxSweeps, double stop)
    {
        int lanes = Vector<float>.Count * Group;
        var xs = new float[c * lanes];
        var rs = new float[c * lanes];
        fixed (float* pg = g, pi = inv, pxs = xs, prs = rs)
            for (long t = lo; t < hi; t++)
            {
                long col = t * lanes;
                int cols = (int)Math.Min(lanes, m - col);
                Gather(px + col, pxs, m, c, cols);
                Gather(pr + col, prs, m, c, cols);
                SolveTile(pxs, prs, pg, pi, c, floor, maxSweeps, stop);
                Scatter(pxs, px + col, m, c, cols);
            }
    }

    /// <summary>Vectors per tile: four independent chains hide the latency of each coordinate update.</summary>
    const int Group = 4;

    /// <summary>c rows of <paramref name="cols"/> floats, <paramref name="stride"/> apart → a dense [c, lanes] tile (missing lanes zero).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void Gather(float* src, float* tile, long stride, int c, int cols)
    {
        int lanes = Vector<float>.Count * Group;
        if (cols < lanes) new Span<float>(tile, c * lanes).Clear();
        CopyRows(src, stride, tile, lanes, c, cols);
    }

    /// <summary>The first <paramref name="cols"/> lanes of a tile back to c rows <paramref name="stride"/> apart.</summary>
    static unsafe void Scatter(float* tile, float* dst, long stride, int c, int cols) =>
        CopyRows(tile, Vector<float>.Count * Group, dst, stride, c, cols);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void CopyRows(float* src, long srcStride, float* dst, long dstStride, int rows, int count)
    {
        for (int j = 0; j < rows; j++) new ReadOnlySpan<float>(src + j * srcStride, count).CopyTo(new Span<float>(dst + j * dstStride, count));
    }

    /// <summary>
    /// Coordinate sweeps on one tile of columns (x, r: dense [c, lanes]; padded lanes are discarded):
    /// every coordinate update is a vector operation across the columns, and the residual update
    /// r ← r − δ_j G_j is c vector multiply-adds. Stops when the tile's squared move falls to
    /// <paramref name="stop"/> of its first sweep's.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void SolveTile(float* x, float* r, float* g, float* inv, int c, float floor, int maxSweeps, double stop)
    {
        int w = Vector<float>.Count, lanes = w * Group;
        var vfloor = new Vector<float>(floor);
        double first = 0;
        for (int sweep = 0; sweep < maxSweeps; sweep++)
        {
            var moved = Vector<float>.Zero;
            for (int j = 0; j < c; j++)
            {
                if (inv[j] == 0) continue;
                float* xj = x + j * lanes, rj = r + j * lanes;
                var vinv = new Vector<float>(inv[j]);
                var o0 = Vector.Load(xj); var o1 = Vector.Load(xj + w); var o2 = Vector.Load(xj + 2 * w); var o3 = Vector.Load(xj + 3 * w);
                var n0 = Vector.Max(vfloor, o0 + Vector.Load(rj) * vinv);
                var n1 = Vector.Max(vfloor, o1 + Vector.Load(rj + w) * vinv);
                var n2 = Vector.Max(vfloor, o2 + Vector.Load(rj + 2 * w) * vinv);
                var n3 = Vector.Max(vfloor, o3 + Vector.Load(rj + 3 * w) * vinv);
                var d0 = n0 - o0; var d1 = n1 - o1; var d2 = n2 - o2; var d3 = n3 - o3;
                Vector.Store(n0, xj); Vector.Store(n1, xj + w); Vector.Store(n2, xj + 2 * w); Vector.Store(n3, xj + 3 * w);
                moved += d0 * d0 + d1 * d1 + d2 * d2 + d3 * d3;
                float* gj = g + (long)j * c;
                for (int k = 0; k < c; k++)
                {
                    float* rk = r + k * lanes;
                    var gk = new Vector<float>(gj[k]);
                    Vector.Store(Vector.Load(rk) - d0 * gk, rk);
                    Vector.Store(Vector.Load(rk + w) - d1 * gk, rk + w);
                    Vector.Store(Vector.Load(rk + 2 * w) - d2 * gk, rk + 2 * w);
                    Vector.Store(Vector.Load(rk + 3 * w) - d3 * gk, rk + 3 * w);
                }
            }
            double total = Vector.Sum(moved);
            if (total == 0) break;
            if (sweep == 0) first = total;
            else if (total <= stop * first) break;
        }
    }
}
