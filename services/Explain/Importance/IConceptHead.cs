using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Importance;

/// <summary>
/// The part of a model after its concepts: concept coefficients U [N, K] → logits [N, C]
/// (Fel et al. 2023, "A Holistic Approach to Unifying Automatic Concept Extraction and Concept
/// Importance Estimation", §3: f = h ∘ (U V) for a dictionary, or a bottleneck's head).
/// Importance estimators perturb U and read the logits; the head must be differentiable.
/// </summary>
public interface IConceptHead
{
    /// <summary>K, the number of concept coefficients the head takes.</summary>
    long Concepts { get; }
    /// <summary>C, the number of logits.</summary>
    long Classes { get; }
    /// <summary>Logits [N, C] for coefficients [N, K] (float64).</summary>
    Tensor Forward(Tensor coefficients);
}
