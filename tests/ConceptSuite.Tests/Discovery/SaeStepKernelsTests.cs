using ConceptSuite.Core.Tensors;
using ConceptSuite.Discovery.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ConceptSuite.Tests.Discovery;

/// <summary>The C# kernels of the sparse SAE step against the torch expressions they replace.</summary>
public class SaeStepKernelsTests
{
    static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    [Theory]
    [InlineData(37, 300, 1)]
    [InlineData(37, 300, 5)]     // blocks of 7 vectors: the block-maximum bound
    [InlineData(37, 300, 32)]    // one vector per block: the plain heap scan
    [InlineData(5, 300, 300)]    // k = C
    [InlineData(64, 4096, 32)]   // the benchmark's shape
    public void TopKSelectsTorchsTopK(int b, int c, int k)
    {
        using var scope = NewDisposeScope();
        var g = new Generator(3);
        var x = randn([b, c], generator: g);
        var (values, indices) = SparseRows.TopK(x, k);
        Assert.Equal(new long[] { b, k }, values.shape);
        Assert.True(Same(values, x.gather(1, indices)));                       // values are the entries at the indices
        var sortedIdx = indices.sort(1).Values;
        Assert.True(k == 1 || sortedIdx.narrow(1, 1, k - 1).gt(sortedIdx.narrow(1, 0, k - 1)).all().item<bool>()); // k distinct columns per row
        var (expected, _) = x.topk(k, dim: 1, sorted: true);
        Assert.True(Same(values.sort(1, descending: true).Values, expected));
    }

    [Fact]
    public void TopKBreaksTiesByColumnAndNeverPrefersNaN()
    {
        using var scope = NewDisposeScope();
        // A constant row: the k earliest columns (both the bounded and the plain scan).
        foreach (var (c, k) in new[] { (256, 4), (256, 32) })
        {
            var (_, ties) = SparseRows.TopK(full(1, c, 2.5f), k);
            Assert.Equal(Enumerable.Range(0, k).Select(i => (long)i), ties.sort(1).Values.data<long>().ToArray());
        }
        // NaN entries are passed over while numbers remain, and taken (as −∞) when they do not.
        var x = randn([3, 256], generator: new Generator(4));
        x[0, 10] = float.NaN; x[1] = full(256, float.NaN); x[1, 7] = 1;
        var (v, i) = SparseRows.TopK(x, 4);
        Assert.False(v[0].isnan().any().item<bool>());
        Assert.True(Same(v[0].sort(0, descending: true).Values, x[0].nan_to_num(float.NegativeInfinity).topk(4).Item1));
        Assert.Contains(7L, i[1].data<long>().ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => SparseRows.TopK(x, 257));
        Assert.Throws<ArgumentOutOfRangeException>(() => SparseRows.TopK(x, 0));
        Assert.Throws<ArgumentException>(() => SparseRows.TopK(x.t(), 4));
    }

    [Fact]
    public void ScatterKernelsAndTheResidualEqualTheDenseProducts()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(5);
        long b = 13, c = 40, d = 19, k = 7;
        var table = randn([c, d], generator: g);
        var rows = randn([b, d], generator: g);
        var idx = stack(Enumerable.Range(0, (int)b).Select(_ => randperm(c, generator: g).narrow(0, 0, k)).ToArray()).contiguous();
        idx[3, 2] = idx[3, 1].clone(); // a repeated atom in one row counts twice
        var values = randn([b, k], generator: g);
        var z = zeros(b, c).scatter_add(1, idx, values);

        var enc = full(d, c, 7f);       // garbage: every entry is written
        var sums = full(c, 7f);
        SparseRows.ScatterTransposed(enc, values, idx, rows, sums);
        Assert.True(enc.allclose(rows.t().matmul(z), rtol: 1e-5, atol: 1e-5));
        Assert.True(sums.allclose(z.sum(0, keepdim: false), rtol: 1e-5, atol: 1e-5));

        var dec = full(c, d, 7f);
        SparseRows.ScatterRows(dec, values, idx, rows);
        Assert.True(dec.allclose(z.t().matmul(rows), rtol: 1e-5, atol: 1e-5));

        var (r, sumSquares) = SparseRows.Residual(values, idx, table, rows);
        var expected = z.matmul(table) - rows;
        Assert.True(r.allclose(expected, rtol: 1e-5, atol: 1e-5));
        Assert.Equal(expected.square().sum().item<float>(), sumSquares, 1e-4 * sumSquares);

        var gated = SparseRows.Dots(rows, idx, table, gate: values);
        Assert.True(gated.allclose(rows.matmul(table.t()).gather(1, idx) * (values > 0).to_type(ScalarType.Float32), rtol: 1e-5, atol: 1e-5));

        idx[0, 0] = c;
        Assert.Throws<ArgumentOutOfRangeException>(() => SparseRows.ScatterTransposed(enc, values, idx, rows));
        Assert.Throws<ArgumentOutOfRangeException>(() => SparseRows.ScatterRows(dec, values, idx, rows));
        Assert.Throws<ArgumentException>(() => SparseRows.ScatterTransposed(full(d + 1, c, 0f), values, idx, rows));
    }

    [Fact]
    public void UnitRowKernelsEqualTheTorchExpressions()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(6);
        var w = randn([50, 33], generator: g);
        w[4] = zeros(33);  // a zero row stays zero (norm clamped at 1e-12)
        var expectedW = w / w.square().sum(1, keepdim: true).sqrt().clamp_min(1e-12f);
        UnitRows.Normalize(w);
        Assert.True(w.allclose(expectedW, rtol: 1e-6, atol: 1e-7));
        var grad = randn([50, 33], generator: g);
        var expectedG = grad - (grad * w).sum(1, keepdim: true) * w;
        UnitRows.RemoveComponents(grad, w);
        Assert.True(grad.allclose(expectedG, rtol: 1e-5, atol: 1e-6));
        Assert.True((grad * w).sum(1).abs().max().item<float>() < 1e-5);
    }

    /// <summary>
    /// FusedAdam is TorchSharp's Adam in one pass: over 20 steps of the same gradients the weights agree
    /// to float rounding (measured: 2e-7 of the largest weight here), and its state round-trips through
    /// OptimizerCheckpoint so a resumed run continues bit for bit.
    /// </summary>
    [Fact]
    public void FusedAdamFollowsTorchSharpsAdamAndResumesBitForBit()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(7);
        var init = new[] { randn([64, 48], generator: g), randn([48], generator: g) };
        var grads = Enumerable.Range(0, 20).Select(_ => init.Select(t => randn(t.shape, generator: g)).ToArray()).ToArray();
        Parameter[] Params() => init.Select(t => new Parameter(t.clone())).ToArray();
        void Run(Parameter[] ps, OptimizerHelper opt, int from, int to)
        {
            for (int s = from; s < to; s++)
            {
                for (int j = 0; j < ps.Length; j++) ps[j].grad = grads[s][j].clone();
                opt.step();
            }
        }
        var reference = Params();
        using (var opt = optim.Adam(reference, lr: 0.01)) Run(reference, opt, 0, 20);
        var fused = Params();
        using (var opt = new FusedAdam(fused, 0.01)) Run(fused, opt, 0, 20);
        for (int j = 0; j < init.Length; j++)
        {
            double err = (fused[j] - reference[j]).abs().max().item<float>(), scale = reference[j].abs().max().item<float>();
            Assert.True(err <= 1e-6 * scale, $"parameter {j}: max |fused − Adam| = {err:G3} against {scale:G3}");
            Assert.False(Same(fused[j], init[j]));
        }

        var first = Params();
        Tensor state;
        using (var opt = new FusedAdam(first, 0.01)) { Run(first, opt, 0, 8); state = OptimizerCheckpoint.Save(opt); }
        var resumed = first.Select(p => new Parameter(p.detach().clone())).ToArray();
        using (var opt = new FusedAdam(resumed, 0.01)) { OptimizerCheckpoint.Restore(opt, state); Run(resumed, opt, 8, 20); }
        for (int j = 0; j < init.Length; j++) Assert.True(Same(resumed[j], fused[j]), $"parameter {j} differs after the resume");
    }
}
