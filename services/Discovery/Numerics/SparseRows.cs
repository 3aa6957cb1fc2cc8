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
/// <item><see cref="ScatterAdd"/>: G += Zᵀ·R, row c of G gets Σ over (i,j) with I[i,j] = c of V[i,j]·R[i];</item>
/// <item><see cref="ScatterRows"/> (G = Zᵀ·R) and <see cref="ScatterTransposed"/> (G = RᵀZ, [D, C], with Z's column
/// sums): the same over the entries grouped by column, every entry of G written once;</item>
/// <item><see cref="Residual"/>: Z·T − X and its squared norm in one pass;</item>
/// <item><see cref="TopK"/>: the selection itself, each row's k largest entries of a dense matrix.</item>
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

    /// <summary>R·Tᵀ at the selected entries: [b, k] with D[i,j] = rows[i]·table[indices[i,j]]; with
    /// <paramref name="gate"/> [b, k], entries whose gate is not positive are 0 (a ReLU's backward pass).</summary>
    public static Tensor Dots(Tensor rows, Tensor indices, Tensor table, Tensor? gate = null)
    {
        var (b, k, c, d) = Check(gate, indices, table, rows);
        var output = zeros([b, k], ScalarType.Float32);
        if (b == 0 || k == 0) return output;
        unsafe
        {
            float* pr = NativeData.Floats(rows), pt = NativeData.Floats(table), po = NativeData.Floats(output);
            float* pg = gate is null ? null : NativeData.Floats(gate);
            long* pi = NativeData.Longs(indices);
            NativeData.Bands(b, NativeData.Threads(b / 16), (lo, hi) =>
            {
                for (long i = lo; i < hi; i++)
                    for (int j = 0; j < k; j++)
                        if (pg == null || pg[i * k + j] > 0) po[i * k + j] = Dot(pr + i * d, pt + pi[i * k + j] * d, d);
            });
        }
        return output;
    }

    /// <summary>
    /// The residual Z·T − target [b, D] (row i = Σ_j values[i,j]·table[indices[i,j]] − target[i]) and
    /// its squared norm, summed per row and then over rows in order (the same sum on any thread count).
    /// </summary>
    public static (Tensor Residual, double SumSquares) Residual(Tensor values, Tensor indices, Tensor table, Tensor target)
    {
        var (b, k, c, d) = Check(values, indices, table, target);
        var output = empty([b, d], ScalarType.Float32);
        var rowSums = new double[b];
        if (b == 0 || d == 0) return (output, 0);
        unsafe
        {
            float* pv = NativeData.Floats(values), pt = NativeData.Floats(table), po = NativeData.Floats(output), px = NativeData.Floats(target);
            long* pi = NativeData.Longs(indices);
            NativeData.Bands(b, NativeData.Threads(b / 16), (lo, hi) =>
            {
                for (long i = lo; i < hi; i++)
                {
                    float* row = po + i * d, x = px + i * d;
                    for (long e = 0; e < d; e++) row[e] = -x[e];
                    for (int j = 0; j < k; j++) Axpy(pv[i * k + j], pt + pi[i * k + j] * d, row, d);
                    rowSums[i] = Dot(row, row, d);
                }
            });
        }
        double sum = 0;
        foreach (var r in rowSums) sum += r;
        return (output, sum);
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

    /// <summary>
    /// Each row's k largest entries of a dense [b, C] matrix (a TopK selection): values [b, k] and
    /// their column indices [b, k], in no particular order (like torch's topk with sorted = false;
    /// among equal values the earlier column wins). One pass over each row with a k-entry min-heap;
    /// blocks of columns that cannot enter the heap are skipped by one vector compare against its
    /// smallest entry. NaN entries are never selected.
    /// </summary>
    public static (Tensor Values, Tensor Indices) TopK(Tensor dense, int k)
    {
        if (dense.dtype != ScalarType.Float32 || dense.dim() != 2 || !dense.is_contiguous() || dense.device_type != DeviceType.CPU)
            throw new ArgumentException("dense must be a contiguous Float32 CPU tensor of rank 2", nameof(dense));
        long b = dense.shape[0], c = dense.shape[1];
        if (k < 1 || k > c) throw new ArgumentOutOfRangeException(nameof(k), $"k must lie in [1, {c}], got {k}");
        var values = empty([b, k], ScalarType.Float32);
        var indices = empty([b, k], ScalarType.Int64);
        if (b == 0) return (values, indices);
        unsafe
        {
            float* px = NativeData.Floats(dense), pv = NativeData.Floats(values);
            long* pi = NativeData.Longs(indices);
            long w = Vector<float>.Count;
            // Rows split into k blocks of whole vectors: each block's maximum is an entry, so at least k
            // entries are ≥ the smallest block maximum, and only entries ≥ it can be among the k largest.
            long blockVectors = c / w / k;
            NativeData.Bands(b, NativeData.Threads(b * c / (1 << 16)), (lo, hi) =>
            {
                var candidates = blockVectors >= 2 ? new long[c] : null;
                for (long i = lo; i < hi; i++)
                {
                    float* row = px + i * c;
                    if (candidates is null) { RowTopK(row, c, k, pv + i * k, pi + i * k); continue; }
                    float bound = float.PositiveInfinity;
                    for (long q = 0; q < k; q++)
                    {
                        float* block = row + q * blockVectors * w;
                        var m = Unsafe.ReadUnaligned<Vector<float>>(block);
                        for (long v = 1; v < blockVectors; v++) m = Vector.Max(m, Unsafe.ReadUnaligned<Vector<float>>(block + v * w));
                        float bm = float.NegativeInfinity;
                        for (int l = 0; l < w; l++) bm = MathF.Max(bm, m[l]);
                        bound = MathF.Min(bound, bm);
                    }
                    // NaN or −∞ rows fall back to the plain heap scan.
                    if (!float.IsFinite(bound)) { RowTopK(row, c, k, pv + i * k, pi + i * k); continue; }
                    int n = 0;
                    var vb = new Vector<float>(bound);
                    long col = 0;
                    for (; col + w <= c; col += w)
                        if (Vector.GreaterThanOrEqualAny(Unsafe.ReadUnaligned<Vector<float>>(row + col), vb))
                            for (long e = col; e < col + w; e++) if (row[e] >= bound) candidates[n++] = e;
                    for (; col < c; col++) if (row[col] >= bound) candidates[n++] = col;
                    fixed (long* pc = candidates) SelectTopK(row, pc, n, k, pv + i * k, pi + i * k);
                }
            });
        }
        return (values, indices);
    }

    /// <summary>The k largest of row[cols[0..n)] (n ≥ k, cols ascending, no NaN among them) by the same heap as <see cref="RowTopK"/>.</summary>
    static unsafe void SelectTopK(float* row, long* cols, int n, int k, float* hv, long* hi)
    {
        for (int q = 0; q < k; q++) Push(row[cols[q]], cols[q], q, hv, hi);
        for (int q = k; q < n; q++) Offer(row[cols[q]], cols[q], k, hv, hi);
    }

    /// <summary>The k largest of row[0..c) into a min-heap (hv, hi) of k entries (hv[0] the smallest kept).</summary>
    static unsafe void RowTopK(float* row, long c, int k, float* hv, long* hi)
    {
        // The heap holds keys (NaN as −∞, so a NaN is kept only when fewer than k entries are numbers);
        // the values are read back from the row at the end.
        long col = 0;
        for (; col < k; col++) Push(float.IsNaN(row[col]) ? float.NegativeInfinity : row[col], col, col, hv, hi);
        long w = Vector<float>.Count;
        while (col < c)
        {
            if (col + w <= c)
            {
                // A block of w columns none of which beats the heap's minimum is skipped whole (NaN compares false).
                if (!Vector.GreaterThanAny(Unsafe.ReadUnaligned<Vector<float>>(row + col), new Vector<float>(hv[0]))) { col += w; continue; }
                for (long e = col + w; col < e; col++) Offer(row[col], col, k, hv, hi);
            }
            else { Offer(row[col], col, k, hv, hi); col++; }
        }
        for (int j = 0; j < k; j++) hv[j] = row[hi[j]];
    }

    /// <summary>
    /// Adds (x, col) as the heap's entry number <paramref name="size"/> and sifts it up: parents hold
    /// smaller keys (ties: the later column is the smaller, so it leaves first).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void Push(float x, long col, long size, float* hv, long* hi)
    {
        long at = size;
        while (at > 0)
        {
            long parent = (at - 1) / 2;
            if (!Before(x, col, hv[parent], hi[parent])) break;
            hv[at] = hv[parent]; hi[at] = hi[parent]; at = parent;
        }
        hv[at] = x; hi[at] = col;
    }

    /// <summary>Whether (a, ia) sorts below (b, ib) in the heap: smaller value, or equal value and later column.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static bool Before(float a, long ia, float b, long ib) => a < b || (a == b && ia > ib);

    /// <summary>Replaces the heap's minimum by (x, col) when x is larger, then sifts it down.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void Offer(float x, long col, int k, float* hv, long* hi)
    {
        if (!(x > hv[0])) return;
        int at = 0;
        while (true)
        {
            int l = 2 * at + 1, r = l + 1, m = at;
            float mv = x; long mi = col;
            if (l < k && Before(hv[l], hi[l], mv, mi)) { m = l; mv = hv[l]; mi = hi[l]; }
            if (r < k && Before(hv[r], hi[r], mv, mi)) { m = r; mv = hv[r]; mi = hi[r]; }
            if (m == at) break;
            hv[at] = mv; hi[at] = mi; at = m;
        }
        hv[at] = x; hi[at] = col;
    }

    /// <summary>
    /// into = Rᵀ·Z, [D, C]: column c of <paramref name="into"/> is Σ over (i, j) with indices[i,j] = c of
    /// values[i,j]·rows[i] (every entry written, so into needs no zeroing); with <paramref name="sums"/>
    /// [C] also sums[c] = Σ of those values[i,j]. The weight gradient of an encoder x·W [D, C] whose
    /// output gradient is Z, without the [C, D] intermediate and its transpose: the entries are grouped by
    /// column, each thread accumulates 16 columns at a time as rows of a small buffer and writes them
    /// out transposed (16 adjacent floats per row of into).
    /// </summary>
    public static void ScatterTransposed(Tensor into, Tensor values, Tensor indices, Tensor rows, Tensor? sums = null)
    {
        if (values.dtype != ScalarType.Float32 || indices.dtype != ScalarType.Int64 || rows.dtype != ScalarType.Float32 ||
            values.dim() != 2 || rows.dim() != 2 || !values.shape.SequenceEqual(indices.shape) || rows.shape[0] != values.shape[0] ||
            !values.is_contiguous() || !indices.is_contiguous() || !rows.is_contiguous() ||
            values.device_type != DeviceType.CPU || indices.device_type != DeviceType.CPU || rows.device_type != DeviceType.CPU)
            throw new ArgumentException("values [b, k] Float32, indices [b, k] Int64 and rows [b, D] Float32 must be contiguous CPU tensors", nameof(values));
        long b = values.shape[0], k = values.shape[1], d = rows.shape[1];
        if (into.dtype != ScalarType.Float32 || into.dim() != 2 || !into.is_contiguous() || into.device_type != DeviceType.CPU || into.shape[0] != d)
            throw new ArgumentException($"into must be a contiguous Float32 CPU tensor [{d}, C]", nameof(into));
        long c = into.shape[1];
        if (sums is not null && (sums.dtype != ScalarType.Float32 || !sums.is_contiguous() || sums.numel() != c || sums.device_type != DeviceType.CPU))
            throw new ArgumentException($"sums must be a contiguous Float32 CPU tensor of {c} entries", nameof(sums));
        long entries = b * k;
        if (entries > 0)
        {
            long max = indices.max().item<long>(), min = indices.min().item<long>();
            if (min < 0 || max >= c) throw new ArgumentOutOfRangeException(nameof(indices), $"indices must lie in [0, {c}), got [{min}, {max}]");
        }
        var (start, order) = ByColumn(indices, c);
        unsafe
        {
            float* pv = NativeData.Floats(values), pr = NativeData.Floats(rows), po = NativeData.Floats(into);
            float* ps = sums is null ? null : NativeData.Floats(sums);
            const int Tile = 16;
            long tiles = (c + Tile - 1) / Tile;
            NativeData.Bands(tiles, NativeData.Threads(Math.Max(tiles / 4, entries * d / (1 << 16))), (lo, hi) =>
            {
                var buffer = new float[Tile * d];
                fixed (float* pb = buffer)
                    for (long t = lo; t < hi; t++)
                    {
                        long c0 = t * Tile, width = Math.Min(Tile, c - c0);
                        new Span<float>(pb, (int)(width * d)).Clear();
                        for (long j = 0; j < width; j++)
                        {
                            float s = 0;
                            for (long q = start[c0 + j]; q < start[c0 + j + 1]; q++)
                            {
                                long e = order[q];
                                Axpy(pv[e], pr + e / k * d, pb + j * d, d);
                                s += pv[e];
                            }
                            if (ps != null) ps[c0 + j] = s;
                        }
                        for (long r = 0; r < d; r++)
                        {
                            float* dst = po + r * c + c0;
                            for (long j = 0; j < width; j++) dst[j] = pb[j * d + r];
                        }
                    }
            });
        }
    }

    /// <summary>
    /// into = Zᵀ·R, [C, D]: row c is Σ over (i, j) with indices[i,j] = c of values[i,j]·rows[i] (every row
    /// written, so into needs no zeroing). Each thread owns a band of rows and visits only their entries.
    /// </summary>
    public static void ScatterRows(Tensor into, Tensor values, Tensor indices, Tensor rows)
    {
        var (b, k, c, d) = Check(values, indices, into, rows);
        var (start, order) = ByColumn(indices, c);
        unsafe
        {
            float* pv = NativeData.Floats(values), pr = NativeData.Floats(rows), pg = NativeData.Floats(into);
            NativeData.Bands(c, NativeData.Threads(Math.Max(c / 64, b * k * d / (1 << 16))), (lo, hi) =>
            {
                for (long row = lo; row < hi; row++)
                {
                    float* dst = pg + row * d;
                    new Span<float>(dst, (int)d).Clear();
                    for (long q = start[row]; q < start[row + 1]; q++) Axpy(pv[order[q]], pr + order[q] / k * d, dst, d);
                }
            });
        }
    }

    /// <summary>Counting sort of the entries of indices [b, k] (in [0, c), checked by the caller) by value:
    /// order[start[j]..start[j+1]) are the flat positions of the entries equal to j, ascending.</summary>
    static unsafe (long[] Start, long[] Order) ByColumn(Tensor indices, long c)
    {
        long entries = indices.numel();
        var start = new long[c + 1];
        var order = new long[entries];
        long* pi = NativeData.Longs(indices);
        for (long e = 0; e < entries; e++) start[pi[e] + 1]++;
        for (long j = 0; j < c; j++) start[j + 1] += start[j];
        var fill = (long[])start.Clone();
        for (long e = 0; e < entries; e++) order[fill[pi[e]]++] = e;
        return (start, order);
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
    internal static unsafe void Axpy(float a, float* x, float* y, long n)
    {
        long i = 0, w = Vector<float>.Count;
        var va = new Vector<float>(a);
        for (; i + w <= n; i += w)
            Unsafe.WriteUnaligned(y + i, Vector.FusedMultiplyAdd(va, Unsafe.ReadUnaligned<Vector<float>>(x + i), Unsafe.ReadUnaligned<Vector<float>>(y + i)));
        for (; i < n; i++) y[i] += a * x[i];
    }

    /// <summary>x·y over n floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe float Dot(float* x, float* y, long n)
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
