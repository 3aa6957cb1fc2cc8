using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Importance;

/// <summary>Independent uniform points (plain Monte Carlo), the baseline design.</summary>
public sealed class RandomDesign : IMaskDesign
{
    public string Name => "random";
    public Tensor Sample(int n, int d, long seed) => torch.rand([n, d], ScalarType.Float64, generator: new torch.Generator((ulong)seed));
}
