using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Importance;

/// <summary>Latin hypercube sampling (McKay, Beckman and Conover 1979): one point per stratum per axis, jittered.</summary>
public sealed class LatinHypercubeDesign : IMaskDesign
{
    public string Name => "latin_hypercube";

    public Tensor Sample(int n, int d, long seed)
    {
        var g = new torch.Generator((ulong)seed);
        var cols = Enumerable.Range(0, d).Select(_ => torch.randperm(n, generator: g).to_type(ScalarType.Float64)).ToArray();
        var strata = torch.stack(cols, 1);
        return (strata + torch.rand([n, d], ScalarType.Float64, generator: g)) / n;
    }
}
