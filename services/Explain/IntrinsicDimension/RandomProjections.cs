using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.IntrinsicDimension;

/// <summary>
/// Random projections P [D, d] from the subspace to the parameters, columns of unit length
/// (Li et al. 2018, §2: θ = θ₀ + P z). "dense": Pᵢⱼ ~ N(0, 1); "sparse": the very sparse projection
/// of Li, Hastie and Church 2006, Pᵢⱼ ∈ {+1, 0, −1} with probabilities 1/(2s), 1 − 1/s, 1/(2s),
/// s = √D (about √D non-zeros per column; a column left empty gets one random ±1).
/// </summary>
public static class RandomProjections
{
    public static Tensor Create(string kind, long parameters, long d, long seed)
    {
        if (d < 1) throw new Contracts.InvalidInputException("dims", $"subspace dimension must be at least 1, got {d}");
        var g = new torch.Generator((ulong)seed);
        Tensor p;
        switch (kind)
        {
            case "dense":
                p = torch.randn([parameters, d], ScalarType.Float64, generator: g);
                break;
            case "sparse":
                var s = Math.Sqrt(parameters);
                var r = torch.rand([parameters, d], ScalarType.Float64, generator: g);
                p = torch.where(r < 1 / (2 * s), torch.ones_like(r), torch.where(r > 1 - 1 / (2 * s), -torch.ones_like(r), torch.zeros_like(r)));
                var empty = (p.abs().sum([0]) == 0).nonzero().flatten().data<long>().ToArray();
                foreach (var j in empty) p[torch.randint(parameters, [1], generator: g).item<long>(), j] = 1.0;
                break;
            default:
                throw new Contracts.InvalidInputException("projection", $"unknown projection '{kind}'; known: dense, sparse");
        }
        return p / p.square().sum([0], keepdim: true).sqrt();
    }
}
