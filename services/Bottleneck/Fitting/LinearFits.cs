using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Bottleneck.Fitting;

/// <summary>
/// Full-batch convex fits shared by the models, all by accelerated proximal gradient (FISTA,
/// Beck &amp; Teboulle 2009) with the step 1/L from a power-iteration bound on the curvature, so
/// that they are deterministic and need no learning rate:
/// <list type="bullet">
/// <item>multinomial logistic regression with an elastic-net penalty on W (bias unpenalized),
///   min_W,b  (1/N) Σ_n CE(z_n Wᵀ + b + o_n, y_n) + λ(α‖W‖₁ + (1−α)/2 ‖W‖²),
///   L ≤ ½ λ_max(Z̄ᵀZ̄/N) + λ(1−α), prox of the ℓ1 part = soft threshold;</item>
/// <item>independent binary logistic regressions (one per column of T ∈ [0,1]^{N×K}),
///   min (1/N) Σ BCE(x W_kᵀ + b_k, t_k) + (l2/2)‖W‖², L ≤ ¼ λ_max(X̄ᵀX̄/N) + l2.</item>
/// </list>
/// Reductions over rows use sum([0]): a literal 0 would bind to the dtype overload of sum.
/// o is an optional fixed offset of the logits (PCBM-h fits its residual on top of PCBM's logits).
/// </summary>
public static class LinearFits
{
    /// <summary>Largest eigenvalue of XᵀX/N for X with an appended ones column (power iteration).</summary>
    public static double Curvature(Tensor x, int iterations = 50)
    {
        using var scope = NewDisposeScope();
        var n = x.shape[0];
        var xa = cat([x, ones(n, 1, device: x.device)], 1);
        var gram = xa.t().matmul(xa) / n;
        var v = ones(gram.shape[0], 1, device: x.device) / Math.Sqrt(gram.shape[0]);
        double lambda = 0;
        for (int i = 0; i < iterations; i++)
        {
            var w = gram.matmul(v);
            lambda = w.norm().item<float>();
            if (lambda <= 0) return 1e-6;
            v = w / lambda;
        }
        return lambda * 1.01 + 1e-8;
    }

    /// <summary>Elastic-net multinomial logistic regression (see the class comment). Returns W [C, K], b [C].</summary>
    public static LinearWeights Softmax(Tensor z, Tensor y, int classes, double lambda, double alpha, int iterations,
        Tensor? offset = null, LinearWeights? start = null, double? curvature = null, CancellationToken ct = default)
    {
        long n = z.shape[0], k = z.shape[1];
        var onehot = nn.functional.one_hot(y, classes).to(ScalarType.Float32);
        double lip = 0.5 * (curvature ?? Curvature(z)) + lambda * (1 - alpha);
        double step = 1.0 / lip;
        float l1 = (float)(step * lambda * alpha);
        var w = start is null ? zeros(classes, k, device: z.device) : start.Weight.clone();
        var b = start is null ? zeros(classes, device: z.device) : start.Bias.clone();
        return Fista(w, b, iterations, ct, (wy, by) =>
        {
            var logits = nn.functional.linear(z, wy, by);
            if (offset is not null) logits = logits + offset;
            var g = (logits.softmax(1) - onehot) / n;                // dCE/dlogits
            var gw = g.t().matmul(z) + (float)(lambda * (1 - alpha)) * wy;
            var gb = g.sum([0]);
            var wNew = wy - (float)step * gw;
            if (l1 > 0) wNew = wNew.sign() * (wNew.abs() - l1).clamp_min(0);
            return (wNew, by - (float)step * gb);
        });
    }

    /// <summary>Independent ℓ2-regularized binary logistic regressions, one per target column. Returns W [K, D], b [K].</summary>
    public static LinearWeights Logistic(Tensor x, Tensor targets, double l2, int iterations, double? curvature = null, CancellationToken ct = default)
    {
        long n = x.shape[0], d = x.shape[1], k = targets.shape[1];
        double lip = 0.25 * (curvature ?? Curvature(x)) + l2;
        var step = (float)(1.0 / lip);
        var w = zeros(k, d, device: x.device);
        var b = zeros(k, device: x.device);
        return Fista(w, b, iterations, ct, (wy, by) =>
        {
            var g = (nn.functional.linear(x, wy, by).sigmoid() - targets) / n;   // [N, K]
            return (wy - step * (g.t().matmul(x) + (float)l2 * wy), by - step * g.sum([0]));
        });
    }

    /// <summary>
    /// The FISTA loop (Beck &amp; Teboulle 2009) both fits share: from (W, b) = (w, b), each
    /// iteration extrapolates y = x_k + ((t_k − 1)/t_{k+1})(x_k − x_{k−1}) with
    /// t_{k+1} = (1 + √(1 + 4t_k²))/2, then takes the fit's proximal gradient step at y. Takes
    /// ownership of <paramref name="w"/> and <paramref name="b"/>; each step runs in its own scope.
    /// </summary>
    static LinearWeights Fista(Tensor w, Tensor b, int iterations, CancellationToken ct, Func<Tensor, Tensor, (Tensor W, Tensor B)> proximalStep)
    {
        var wPrev = w.clone();
        var bPrev = b.clone();
        double t = 1;
        for (int it = 0; it < iterations; it++)
        {
            if ((it & 31) == 0) ct.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            double tNext = (1 + Math.Sqrt(1 + 4 * t * t)) / 2;
            var mom = (float)((t - 1) / tNext);
            var wy = w + mom * (w - wPrev);
            var by = b + mom * (b - bPrev);
            var (wNew, bNew) = proximalStep(wy, by);
            wPrev.Dispose(); bPrev.Dispose();
            wPrev = w; bPrev = b;
            w = wNew.MoveToOuterDisposeScope();
            b = bNew.MoveToOuterDisposeScope();
            t = tNext;
        }
        wPrev.Dispose(); bPrev.Dispose();
        return new LinearWeights(w, b);
    }

    /// <summary>Column means and standard deviations (σ floored at 1e-6 so constant columns pass through).</summary>
    public static (Tensor Mean, Tensor Scale) Standardizer(Tensor x)
    {
        using var scope = NewDisposeScope();
        var mean = x.mean([0]);
        var scale = (x - mean).square().mean([0]).sqrt().clamp_min(1e-6f);
        return (mean.MoveToOuterDisposeScope(), scale.MoveToOuterDisposeScope());
    }

    /// <summary>Fraction of rows whose argmax logit is the label.</summary>
    public static double Accuracy(Tensor logits, Tensor labels)
    {
        using var scope = NewDisposeScope();
        return logits.argmax(1).eq(labels.to(logits.device)).to(ScalarType.Float32).mean().item<float>();
    }

    /// <summary>Fraction of concept entries whose thresholded probability (≥ 0.5) equals the 0/1 truth (≥ 0.5).</summary>
    public static double ConceptAccuracy(Tensor probabilities, Tensor truth)
    {
        using var scope = NewDisposeScope();
        return probabilities.ge(0.5f).eq(truth.to(probabilities.device).ge(0.5f)).to(ScalarType.Float32).mean().item<float>();
    }
}
