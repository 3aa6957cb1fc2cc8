using System.Numerics;
using System.Runtime.CompilerServices;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Discovery.Numerics;

/// <summary>
/// Adam (Kingma &amp; Ba 2015) whose update of each parameter is one pass over its storage: for every
/// element, m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g², p ← p − (lr/(1 − β₁ᵗ))·m/(√v/√(1 − β₂ᵗ) + ε),
/// with p, g, m and v read and p, m and v written once (TorchSharp's Adam runs six element-wise
/// passes and allocates two temporaries of the parameter's size). It is TorchSharp's Adam otherwise:
/// same options, same state objects (moments and step counts), so <c>OptimizerCheckpoint</c> saves and
/// restores it unchanged. Parameters that are not contiguous float32 CPU tensors, and the options the
/// kernel does not implement (amsgrad, maximize, weight decay), take the base class's step.
/// The result differs from the base class's in the last bits (rounding order), not in the method.
/// </summary>
public sealed class FusedAdam(IEnumerable<Parameter> parameters, double lr, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
    : Adam(parameters, lr, beta1, beta2, eps)
{

    public override Tensor step(Func<Tensor>? closure = null)
    {
        foreach (var group in _parameter_groups)
        {
            var o = (Options)group.Options;
            if (o.amsgrad == true || o.maximize == true || (o.weight_decay ?? 0) != 0 || !group.Parameters.All(Fits))
                return base.step(closure);
        }
        using var _ = no_grad();
        foreach (var group in _parameter_groups)
        {
            var o = (Options)group.Options;
            double b1 = o.beta1!.Value, b2 = o.beta2!.Value, eps = o.eps!.Value, lr = o.LearningRate!.Value;
            foreach (var p in group.Parameters)
            {
                if (p.grad is not { } g) continue;
                var s = (State)_state[p.Handle];
                s.step += 1;
                double bc1 = 1 - Math.Pow(b1, s.step), bc2 = 1 - Math.Pow(b2, s.step);
                Update(p, g.is_contiguous() ? g : g.contiguous(), s.exp_avg, s.exp_avg_sq,
                    (float)b1, (float)b2, (float)(1 / Math.Sqrt(bc2)), (float)eps, (float)(lr / bc1));
            }
        }
        return closure?.Invoke()!;
    }

    static bool Fits(Parameter p) =>
        p.device_type == DeviceType.CPU && p.dtype == ScalarType.Float32 && p.is_contiguous() &&
        (p.grad is null || (p.grad.dtype == ScalarType.Float32 && p.grad.device_type == DeviceType.CPU && p.grad.numel() == p.numel()));

    /// <summary>One pass of the update over n = p.numel() elements, in bands on torch's thread count.</summary>
    static unsafe void Update(Tensor p, Tensor g, Tensor m, Tensor v, float b1, float b2, float invRootBc2, float eps, float stepSize)
    {
        long n = p.numel();
        if (!m.is_contiguous() || !v.is_contiguous() || m.numel() != n || v.numel() != n)
            throw new InvalidOperationException("Adam's moments must be contiguous and of the parameter's size");
        float* pp = NativeData.Floats(p), pg = NativeData.Floats(g), pm = NativeData.Floats(m), pv = NativeData.Floats(v);
        float c1 = 1 - b1, c2 = 1 - b2;
        NativeData.Bands(n, NativeData.Threads(n / (1 << 16)), (lo, hi) =>
        {
            long i = lo, w = Vector<float>.Count;
            // Bands start at any element; the vector loop reads unaligned.
            var vb1 = new Vector<float>(b1); var vc1 = new Vector<float>(c1);
            var vb2 = new Vector<float>(b2); var vc2 = new Vector<float>(c2);
            var vr = new Vector<float>(invRootBc2); var ve = new Vector<float>(eps); var vs = new Vector<float>(stepSize);
            for (; i + w <= hi; i += w)
            {
                var gi = Unsafe.ReadUnaligned<Vector<float>>(pg + i);
                var mi = vb1 * Unsafe.ReadUnaligned<Vector<float>>(pm + i) + vc1 * gi;
                var vi = vb2 * Unsafe.ReadUnaligned<Vector<float>>(pv + i) + vc2 * (gi * gi);
                Unsafe.WriteUnaligned(pm + i, mi);
                Unsafe.WriteUnaligned(pv + i, vi);
                var denom = Vector.SquareRoot(vi) * vr + ve;
                Unsafe.WriteUnaligned(pp + i, Unsafe.ReadUnaligned<Vector<float>>(pp + i) - vs * mi / denom);
            }
            for (; i < hi; i++)
            {
                float gi = pg[i];
                float mi = b1 * pm[i] + c1 * gi, vi = b2 * pv[i] + c2 * (gi * gi);
                pm[i] = mi; pv[i] = vi;
                pp[i] -= stepSize * mi / (MathF.Sqrt(vi) * invRootBc2 + eps);
            }
        });
    }
}
