using TorchSharp;

namespace ConceptSuite.Explain.Representations;

/// <summary>
/// A similarity index between two representations of the same N samples, A [N, D₁] and B [N, D₂]
/// (CKA family, CCA family). One entry point; hyper-parameters come, parsed once, through the
/// constructor (see <see cref="RepresentationSimilarities"/>).
/// </summary>
public interface IRepresentationSimilarity
{
    /// <summary>The fewest samples the estimator is defined for.</summary>
    int MinSamples { get; }

    /// <summary>The index; throws InvalidInputException (fields "a", "b") on bad input.</summary>
    double Score(torch.Tensor a, torch.Tensor b);
}
