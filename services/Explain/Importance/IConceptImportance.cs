using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Importance;

/// <summary>
/// A concept importance estimator: for coefficients U [N, K] and a target class per sample, the
/// importance φ [N, K] of each concept for that sample's target logit. One entry point; its
/// hyper-parameters come, parsed once, through its constructor (see <see cref="ImportanceEstimators"/>).
/// </summary>
public interface IConceptImportance
{
    Tensor Explain(IConceptHead head, Tensor coefficients, long[] targets);
}
