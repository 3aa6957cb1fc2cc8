using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Importance;

/// <summary>A sampling design in the unit hypercube: n points in [0, 1)^d (float64 [n, d]).</summary>
public interface IMaskDesign
{
    string Name { get; }
    Tensor Sample(int n, int d, long seed);
}
