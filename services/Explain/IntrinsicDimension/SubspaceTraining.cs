using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.IntrinsicDimension;

/// <summary>
/// Intrinsic dimension of an objective landscape (Li, Farkhoor, Liu and Yosinski 2018, "Measuring
/// the Intrinsic Dimension of Objective Landscapes"): train only z ∈ ℝᵈ in θ = θ₀ + P z (P a fixed
/// random projection, z₀ = 0) for each d of a sweep, and report d_int = the smallest d whose
/// performance reaches <see cref="Threshold"/> × the performance of training all D parameters
/// (d_int90 for the default 0.9). Training is Adam with a cosine-decayed step size; least-squares
/// problems (<see cref="ILeastSquaresProblem"/>) are solved exactly in the subspace instead.
/// </summary>
public sealed class SubspaceTraining(string projection = "dense", int steps = 1500, double learningRate = 0.1, double threshold = 0.9, long seed = 0)
{
    public string Projection { get; } = projection is "dense" or "sparse" ? projection : throw new Contracts.InvalidInputException("projection", $"unknown projection '{projection}'; known: dense, sparse");
    public int Steps { get; } = steps >= 1 ? steps : throw new Contracts.InvalidInputException("steps", "must be at least 1");
    public double Threshold { get; } = threshold > 0 && threshold <= 1 ? threshold : throw new Contracts.InvalidInputException("threshold", "must be in (0, 1]");

    public sealed record Result(long[] Dims, double[] Performance, double FullPerformance, long? IntrinsicDimension, long Parameters);

    /// <summary>Performance after training in a random d-dimensional subspace (d = D and no projection when <paramref name="d"/> is null).</summary>
    public double Train(ISubspaceProblem problem, long? d, Action<int, double>? onStep = null, CancellationToken ct = default)
    {
        using var scope = torch.NewDisposeScope();
        var theta0 = problem.InitialParameters.detach();
        long dim = theta0.shape[0];
        var p = d is long k ? RandomProjections.Create(Projection, dim, k, seed + k) : null;
        if (problem is ILeastSquaresProblem ls)
        {
            using var noGrad = torch.no_grad();
            var ap = p is null ? ls.Design : ls.Design.matmul(p);
            var residual = (ls.Target - ls.Design.matmul(theta0)).unsqueeze(1);
            var zStar = torch.linalg.pinv(ap).matmul(residual).squeeze(1);
            return problem.Performance(p is null ? theta0 + zStar : theta0 + p.matmul(zStar));
        }
        var z = torch.zeros(p is null ? dim : d!.Value, ScalarType.Float64).requires_grad_(true);
        // Adam (Kingma and Ba 2015) on the single tensor z: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g²,
        // z ← z − η_t · m̂ / (√v̂ + ε), with a cosine-decayed η_t.
        const double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
        var m = torch.zeros_like(z);
        var v = torch.zeros_like(z);
        for (int s = 0; s < Steps; s++)
        {
            ct.ThrowIfCancellationRequested();
            using var step = torch.NewDisposeScope();
            var lr = learningRate * 0.5 * (1 + Math.Cos(Math.PI * s / Steps));
            var theta = p is null ? theta0 + z : theta0 + p.matmul(z);
            var loss = problem.Loss(theta);
            var g = torch.autograd.grad([loss], [z])[0];
            using (torch.no_grad())
            {
                m.mul_(beta1).add_(g, alpha: 1 - beta1);
                v.mul_(beta2).add_(g.square(), alpha: 1 - beta2);
                var mhat = m / (1 - Math.Pow(beta1, s + 1));
                var vhat = v / (1 - Math.Pow(beta2, s + 1));
                z.sub_(lr * mhat / (vhat.sqrt() + eps));
            }
            onStep?.Invoke(s, loss.item<double>());
        }
        using (torch.no_grad())
        {
            var theta = p is null ? theta0 + z : theta0 + p.matmul(z);
            return problem.Performance(theta);
        }
    }

    /// <summary>The sweep: performance per d, the full model's, and d_int (null if no d reaches the threshold).</summary>
    public Result Sweep(ISubspaceProblem problem, IReadOnlyList<long> dims, Action<int, int>? progress = null, CancellationToken ct = default)
    {
        if (dims.Count == 0) throw new Contracts.InvalidInputException("dims", "is empty");
        var sorted = dims.Distinct().OrderBy(x => x).ToArray();
        if (sorted[0] < 1) throw new Contracts.InvalidInputException("dims", "every dimension must be at least 1");
        long parameters = problem.InitialParameters.shape[0];
        var full = Train(problem, null, ct: ct);
        progress?.Invoke(1, sorted.Length + 1);
        var perf = new double[sorted.Length];
        long? dint = null;
        for (int i = 0; i < sorted.Length; i++)
        {
            perf[i] = Train(problem, sorted[i], ct: ct);
            if (dint is null && perf[i] >= Threshold * full - 1e-12) dint = sorted[i];
            progress?.Invoke(i + 2, sorted.Length + 1);
        }
        return new Result(sorted, perf, full, dint, parameters);
    }
}
