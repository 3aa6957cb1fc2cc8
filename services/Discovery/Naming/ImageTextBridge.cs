using ConceptSuite.Contracts;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Discovery.Naming;

/// <summary>
/// A linear map from image activations into a text-embedding space, t ≈ x M + b, fitted by ridge
/// least squares on paired examples (Discover-then-Name, Rao et al. 2024, with the CLIP image–text
/// alignment replaced by a learned linear bridge): with centred X, T,
/// M = (XᵀX + λ·tr(XᵀX)/D · I)⁻¹ XᵀT and b = t̄ − x̄ M (solved in float64).
/// </summary>
public sealed class ImageTextBridge : IDisposable
{
    public ImageTextBridge(Tensor weight, Tensor bias) { Weight = weight; Bias = bias; }

    /// <summary>M [D_img, D_txt].</summary>
    public Tensor Weight { get; }
    /// <summary>b [D_txt].</summary>
    public Tensor Bias { get; }

    /// <summary>Fits the bridge; returns it and its R² on the pairs.</summary>
    public static (ImageTextBridge Bridge, double R2) Fit(Tensor x, Tensor t, double ridge)
    {
        if (x.dim() != 2 || t.dim() != 2) throw new InvalidInputException("bridge_pairs", "image activations and caption embeddings must be 2-D [N, D]");
        if (x.shape[0] != t.shape[0]) throw new InvalidInputException("bridge_pairs", $"{x.shape[0]} image rows but {t.shape[0]} caption rows");
        if (x.shape[0] < 2) throw new InvalidInputException("bridge_pairs", "needs at least 2 pairs");
        if (ridge < 0 || !double.IsFinite(ridge)) throw new InvalidInputException("bridge_pairs.ridge", "must be a finite number >= 0");
        using var scope = NewDisposeScope();
        var x64 = x.to_type(ScalarType.Float64);
        var t64 = t.to_type(ScalarType.Float64);
        var xm = x64.mean([0]);
        var tm = t64.mean([0]);
        var xc = x64 - xm;
        var tc = t64 - tm;
        var gram = xc.t().matmul(xc);
        long d = x.shape[1];
        double lam = ridge * Math.Max(gram.trace().item<double>() / d, 1e-12);
        var m = linalg.solve(gram + lam * eye(d, dtype: ScalarType.Float64), xc.t().matmul(tc));
        var b = tm - xm.matmul(m);
        var pred = x64.matmul(m) + b;
        double sse = (pred - t64).square().sum().item<double>();
        double sst = tc.square().sum().item<double>();
        var bridge = new ImageTextBridge(m.to_type(ScalarType.Float32).MoveToOuterDisposeScope(), b.to_type(ScalarType.Float32).MoveToOuterDisposeScope());
        return (bridge, sst > 0 ? 1 - sse / sst : 0);
    }

    /// <summary>Maps directions (atoms) [C, D_img] → [C, D_txt] (linear part only: a direction has no offset).</summary>
    public Tensor MapDirections(Tensor atoms) => atoms.matmul(Weight);

    public void Dispose() { Weight.Dispose(); Bias.Dispose(); }
}
