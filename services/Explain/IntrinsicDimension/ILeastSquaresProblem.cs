using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.IntrinsicDimension;

/// <summary>
/// A problem whose loss is ‖Aθ − b‖²: training in a subspace has the closed-form minimiser
/// z* = argmin ‖A P z − (b − Aθ₀)‖² (least squares, minimum norm), used instead of iterating.
/// </summary>
public interface ILeastSquaresProblem : ISubspaceProblem
{
    Tensor Design { get; }
    Tensor Target { get; }
}
