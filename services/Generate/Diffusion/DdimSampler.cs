using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Generate.Diffusion;

/// <summary>
/// Deterministic DDIM sampling (Song et al., 2021, η = 0): with x̂_0 = (x_t − √(1−ᾱ_t) ε)/√ᾱ_t
/// clipped to [−1, 1], x_{t'} = √ᾱ_{t'} x̂_0 + √(1 − ᾱ_{t'}) ε̂, where ε̂ is recomputed from the
/// clipped x̂_0 and t' is the next sampling timestep (ᾱ = 1 after the last).
/// </summary>
public static class DdimSampler
{
    /// <param name="eps">ε prediction for (x_t, t as a [B] tensor).</param>
    /// <param name="xT">Initial noise [B,3,H,W].</param>
    /// <param name="onStep">Called after each step with (done, total); may throw to cancel.</param>
    public static Tensor Sample(NoiseSchedule schedule, Func<Tensor, Tensor, Tensor> eps, Tensor xT, int steps, Action<int, int>? onStep = null)
    {
        var ts = schedule.SamplingTimesteps(steps);
        var x = xT;
        for (int i = 0; i < ts.Length; i++)
        {
            using var scope = NewDisposeScope();
            double ab = schedule.AlphaBar[(int)ts[i]];
            double abPrev = i + 1 < ts.Length ? schedule.AlphaBar[(int)ts[i + 1]] : 1.0;
            var t = full(x.shape[0], ts[i], ScalarType.Int64, device: x.device);
            var e = eps(x, t);
            var x0 = ((x - Math.Sqrt(1 - ab) * e) / Math.Sqrt(ab)).clamp(-1.0, 1.0);
            var eHat = (x - Math.Sqrt(ab) * x0) / Math.Sqrt(1 - ab);
            var next = Math.Sqrt(abPrev) * x0 + Math.Sqrt(1 - abPrev) * eHat;
            x = next.MoveToOuterDisposeScope();
            onStep?.Invoke(i + 1, ts.Length);
        }
        return x;
    }

    /// <summary>Initial noise, one generator per sample so each seed gives the same image in any batch.</summary>
    public static Tensor InitialNoise(IReadOnlyList<long> seeds, int imageSize, Device device)
    {
        var parts = seeds.Select(s =>
        {
            using var g = new Generator((ulong)s);
            return randn([1, 3, imageSize, imageSize], generator: g);
        }).ToList();
        var x = cat(parts, 0).to(device);
        foreach (var p in parts) p.Dispose();
        return x;
    }
}
