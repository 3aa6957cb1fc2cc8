using ConceptSuite.Core.Numerics;
using ConceptSuite.Discovery.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Discovery.Metrics;

/// <summary>
/// Metrics of a fitted dictionary, as small pure functions over streamed blocks:
/// <list type="bullet">
/// <item>R² = 1 − Σ||x − x̂||² / Σ||x − x̄||² (fraction of variance explained, x̄ the per-dimension mean);</item>
/// <item>MSE = Σ||x − x̂||² / (N·D);</item>
/// <item>L0 = mean over samples of #{i : u_i ≠ 0};</item>
/// <item>dead fraction = #{atoms never non-zero over the samples} / C;</item>
/// <item>stability = mean over a Hungarian matching of |cos(w_i, w'_π(i))| between the atoms of two
/// fits with different seeds (1 = the same dictionary up to order and sign).</item>
/// </list>
/// </summary>
public static class DictionaryMetrics
{
    /// <summary>Streams the first <paramref name="maxSamples"/> samples through Encode and Decode.</summary>
    public static ReconstructionMetrics Evaluate(IConceptDictionary dict, IRowSource data, long maxSamples, CancellationToken ct = default)
    {
        int d = data.Dim;
        double sse = 0;
        long n = 0, nnz = 0;
        using var sum = zeros(d, ScalarType.Float64);
        using var sumSq = zeros(d, ScalarType.Float64);
        using var active = zeros(dict.Concepts, ScalarType.Bool);
        foreach (var block in data.Blocks(8192))
        {
            using var _ = block;
            if (n >= maxSamples) break;
            ct.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var x = block.narrow(0, 0, Math.Min(block.shape[0], maxSamples - n));
            var z = dict.Encode(x);
            var xhat = dict.Decode(z);
            sse += (x - xhat).to_type(ScalarType.Float64).square().sum().item<double>();
            var x64 = x.to_type(ScalarType.Float64);
            sum.add_(x64.sum(0, keepdim: false));
            sumSq.add_(x64.square().sum(0, keepdim: false));
            var nz = z != 0;
            nnz += nz.sum().item<long>();
            active.logical_or_(nz.any(0, keepdim: false));
            n += x.shape[0];
        }
        return Compute(sse, sum, sumSq, n, d, nnz, active);
    }

    /// <summary>The metrics from accumulated sums (exposed for exact tests).</summary>
    public static ReconstructionMetrics Compute(double sse, Tensor sum, Tensor sumSq, long n, int d, long nnz, Tensor active)
    {
        if (n == 0) return new ReconstructionMetrics(0, 0, 0, 0, 0);
        double sst = (sumSq - sum.square() / n).sum().item<double>();
        double r2 = sst > 0 ? 1 - sse / sst : (sse == 0 ? 1 : 0);
        double dead = 1 - active.to_type(ScalarType.Float64).mean().item<double>();
        return new ReconstructionMetrics(r2, sse / ((double)n * d), (double)nnz / n, dead, n);
    }

    /// <summary>R² of x̂ against x (whole tensors): 1 − ||x − x̂||² / ||x − x̄||².</summary>
    public static double R2(Tensor x, Tensor xhat)
    {
        using var s = NewDisposeScope();
        var x64 = x.to_type(ScalarType.Float64);
        double sse = (x64 - xhat.to_type(ScalarType.Float64)).square().sum().item<double>();
        double sst = (x64 - x64.mean([0], keepdim: true)).square().sum().item<double>();
        return sst > 0 ? 1 - sse / sst : (sse == 0 ? 1 : 0);
    }

    /// <summary>Mean number of non-zeros per row.</summary>
    public static double L0(Tensor codes) => (codes != 0).sum().item<long>() / (double)codes.shape[0];

    /// <summary>
    /// Stability of two dictionaries [C, D] and [C', D]: the mean |cos| over the maximum-weight
    /// matching (Hungarian) of their atoms; unmatched atoms (C ≠ C') are not counted.
    /// </summary>
    public static double Stability(Tensor a, Tensor b) => Match(a, b).Mean;

    /// <summary>Hungarian matching of atoms by |cos|: per atom of a, the matched atom of b (or −1) and |cos|.</summary>
    public static (int[] Assignment, double[] Similarity, double Mean) Match(Tensor a, Tensor b)
    {
        using var s = NewDisposeScope();
        var an = a.to_type(ScalarType.Float64);
        an = an / an.norm(1, keepdim: true).clamp_min(1e-12);
        var bn = b.to_type(ScalarType.Float64);
        bn = bn / bn.norm(1, keepdim: true).clamp_min(1e-12);
        var cos = an.matmul(bn.t()).abs().contiguous();
        int n = (int)cos.shape[0], m = (int)cos.shape[1];
        var flat = cos.data<double>().ToArray();
        var score = new double[n, m];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < m; j++) score[i, j] = flat[i * m + j];
        var assign = Hungarian.Maximize(score);
        var sim = new double[n];
        double total = 0; int matched = 0;
        for (int i = 0; i < n; i++)
        {
            sim[i] = assign[i] >= 0 ? score[i, assign[i]] : 0;
            if (assign[i] >= 0) { total += sim[i]; matched++; }
        }
        return (assign, sim, matched == 0 ? 0 : total / matched);
    }
}
