using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.IntrinsicDimension;

/// <summary>A model to train in a subspace of its D parameters: a loss and a performance (higher is better).</summary>
public interface ISubspaceProblem
{
    /// <summary>θ₀ [D], the fixed random initialisation the subspace is anchored at.</summary>
    Tensor InitialParameters { get; }
    /// <summary>The training loss at θ (differentiable scalar).</summary>
    Tensor Loss(Tensor theta);
    /// <summary>The performance at θ (accuracy, fraction of constraints met, ...).</summary>
    double Performance(Tensor theta);
}
