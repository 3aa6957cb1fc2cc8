using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Generate.Diffusion;

/// <summary>
/// The cosine noise schedule (Nichol &amp; Dhariwal, 2021): ᾱ(t) = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s)·π/2),
/// s = 0.008, with β_t = 1 − ᾱ_t/ᾱ_{t−1} clipped at 0.999. Forward process
/// q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I).
/// </summary>
public sealed class NoiseSchedule
{
    public NoiseSchedule(int steps)
    {
        Steps = steps;
        const double s = 0.008;
        double F(double t) => Math.Pow(Math.Cos((t / steps + s) / (1 + s) * Math.PI / 2), 2);
        var ab = new double[steps];
        double prev = 1.0;
        for (int t = 0; t < steps; t++)
        {
            double beta = Math.Min(1 - F(t + 1) / F(t), 0.999);
            prev *= 1 - beta;
            ab[t] = prev;
        }
        AlphaBar = ab;
    }

    public int Steps { get; }
    /// <summary>ᾱ_t for t = 0..T−1.</summary>
    public IReadOnlyList<double> AlphaBar { get; }

    /// <summary>x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε for per-sample timesteps t [B].</summary>
    public Tensor AddNoise(Tensor x0, Tensor noise, Tensor t)
    {
        var ab = tensor(AlphaBar.Select(v => (float)v).ToArray(), device: x0.device).index_select(0, t).reshape(-1, 1, 1, 1);
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise;
    }

    /// <summary>S timesteps of a DDIM pass, from T−1 down to 0, evenly spaced.</summary>
    public long[] SamplingTimesteps(int samplingSteps)
    {
        var ts = new long[samplingSteps];
        for (int i = 0; i < samplingSteps; i++)
            ts[i] = (long)Math.Round((Steps - 1) * (1.0 - (double)i / Math.Max(1, samplingSteps - 1)));
        if (samplingSteps == 1) ts[0] = Steps - 1;
        return ts;
    }
}
