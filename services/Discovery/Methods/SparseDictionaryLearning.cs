using ConceptSuite.Contracts;
using ConceptSuite.Core.Methods;
using ConceptSuite.Discovery.Abstractions;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Discovery.Methods;

/// <summary>
/// Sparse dictionary learning (Olshausen &amp; Field 1996; Mairal et al. 2009, "Online Dictionary
/// Learning for Sparse Coding"): min_{D, Z} ½||X − Z D||²_F + λ||Z||₁ with unit-norm atoms.
/// Codes by ISTA (Daubechies et al. 2004) or FISTA (Beck &amp; Teboulle 2009):
/// z ← soft_{λ/L}(y − (yD − x)Dᵀ / L), L = λ_max(DDᵀ), with Nesterov momentum for FISTA.
/// The dictionary step uses the sufficient statistics A = ΣZᵀZ, B = ΣZᵀX of a pass (block
/// coordinate descent of Mairal et al.): d_j ← (B_j − A_j D + A_jj d_j) / A_jj, then d_j ← d_j/||d_j||.
/// Memory is O(C·D + C²), independent of N.
/// </summary>
public sealed class SparseDictionaryLearning : AtomDictionary
{
    readonly SparseDictionaryLearningOptions _o;

    public SparseDictionaryLearning(int concepts, SparseDictionaryLearningOptions options) : base(concepts) { _o = options; }

    protected override string StateKey => "atoms";

    public override string Method => "sparse_dl";
    public override bool NonNegativeCodes => _o.Positive;
    /// <summary>Objective ½||X − ZD||² + λ||Z||₁ of each pass (codes of that pass, dictionary it started from).</summary>
    public List<double> ObjectiveHistory { get; } = new();

    public override void Validate(DataStats stats)
    {
        if (Concepts > stats.Samples) throw new InvalidInputException("n_concepts", $"needs n_concepts <= samples ({stats.Samples}) for the initialisation, got {Concepts}");
    }

    public override void Fit(IRowSource data, FitContext ctx)
    {
        InputDim = data.Dim;
        using var scope = NewDisposeScope();
        Tensor d;
        using (var sample = RowSources.Head(data, Concepts, ctx.Seed))
            d = sample.clone();
        d = Normalize(d, null);
        double alpha = _o.Alpha;
        for (int p = 0; p < _o.MaxIter; p++)
        {
            using var s = NewDisposeScope();
            var a = zeros(Concepts, Concepts);
            var b = zeros(Concepts, InputDim);
            double obj = 0;
            foreach (var block in data.Blocks(16384))
            {
                using var bs = NewDisposeScope();
                ctx.CancellationToken.ThrowIfCancellationRequested();
                var z = Code(block, d);
                a.add_(z.t().matmul(z));
                b.add_(z.t().matmul(block));
                obj += 0.5 * (block - z.matmul(d)).square().sum().item<float>() + alpha * z.abs().sum().item<float>();
                block.Dispose();
            }
            ObjectiveHistory.Add(obj);
            for (long j = 0; j < Concepts; j++)
            {
                var ajj = a[j, j].item<float>();
                if (ajj <= 1e-12f) continue;   // unused atom: kept
                var col = (b[j] - a[j].matmul(d)) / ajj + d[j];
                var nrm = col.norm().item<float>();
                if (nrm > 1e-12f) d[j].copy_(col / nrm);
            }
            ctx.Progress?.Invoke(p + 1, _o.MaxIter, "passes", "sparse_dl");
            ctx.Metrics?.Invoke(p + 1, new Dictionary<string, double> { ["objective"] = obj });
        }
        W?.Dispose();
        W = d.contiguous().MoveToOuterDisposeScope();
    }

    static Tensor Normalize(Tensor d, Tensor? fallback) => d / d.norm(1, keepdim: true).clamp_min(1e-12f);

    /// <summary>ISTA/FISTA codes for x [n, D] with dictionary d [C, D].</summary>
    public Tensor Code(Tensor x, Tensor d)
    {
        using var s = NewDisposeScope();
        double alpha = _o.Alpha;
        bool positive = _o.Positive;
        bool fista = _o.Coder == "fista";
        var gram = d.matmul(d.t());
        double lip = Math.Max(linalg.eigvalsh(gram.to_type(ScalarType.Float64)).max().item<double>(), 1e-12);
        var xdT = x.matmul(d.t());
        var z = zeros(x.shape[0], Concepts);
        var y = z;
        double t = 1;
        float thr = (float)(alpha / lip);
        for (int i = 0; i < _o.CodeIters; i++)
        {
            var grad = y.matmul(gram) - xdT;
            var v = y - grad / (float)lip;
            var zNew = positive ? (v - thr).clamp_min(0) : v.sign() * (v.abs() - thr).clamp_min(0);
            if (fista)
            {
                double tNew = (1 + Math.Sqrt(1 + 4 * t * t)) / 2;
                y = zNew + (float)((t - 1) / tNew) * (zNew - z);
                t = tNew;
            }
            else y = zNew;
            z = zNew;
        }
        return z.MoveToOuterDisposeScope();
    }

    public override Tensor Encode(Tensor x) => Code(x, W ?? throw NotFitted());

}

/// <summary>Options of <see cref="SparseDictionaryLearning"/>.</summary>
public sealed record SparseDictionaryLearningOptions(double Alpha, string Coder, int CodeIters, int MaxIter, bool Positive)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Float("alpha", 0.1, "λ, the L1 weight of the codes (in data units)", 0, 1e9),
        OptionSpec.Choice("coder", "fista", "fista | ista", "fista", "ista"),
        OptionSpec.Int("code_iters", 100, "iterations of the sparse coder", 1, 100000),
        OptionSpec.Int("max_iter", 20, "passes over the data (each ends with a dictionary update)", 1, 100000),
        OptionSpec.Bool("positive", false, "constrain codes to be non-negative"),
    ];

    public static SparseDictionaryLearningOptions From(OptionValues o) =>
        new(o.Float("alpha"), o.Choice("coder"), o.Int("code_iters"), o.Int("max_iter"), o.Bool("positive"));
}
