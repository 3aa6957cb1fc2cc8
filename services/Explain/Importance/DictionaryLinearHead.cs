using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Importance;

/// <summary>
/// A dictionary followed by a linear head on the activations: logits = (U V) Wᵀ + b with the
/// concept bank V [K, D] and W [C, D]; composed once into a linear head on U.
/// </summary>
public sealed class DictionaryLinearHead : IConceptHead
{
    readonly LinearConceptHead _composed;

    public DictionaryLinearHead(Tensor dictionary, Tensor weight, Tensor? bias = null)
    {
        if (dictionary.dim() != 2) throw new Contracts.InvalidInputException("dictionary", "expected [K, D]");
        if (weight.dim() != 2 || weight.shape[1] != dictionary.shape[1])
            throw new Contracts.InvalidInputException("head_weight", $"expected [C, {dictionary.shape[1]}] to match the dictionary's D");
        _composed = new LinearConceptHead(weight.to_type(ScalarType.Float64).matmul(dictionary.to_type(ScalarType.Float64).t()), bias);
    }

    public long Concepts => _composed.Concepts;
    public long Classes => _composed.Classes;
    /// <summary>The composed linear head on U, W Vᵀ [C, K].</summary>
    public LinearConceptHead Composed => _composed;
    public Tensor Forward(Tensor u) => _composed.Forward(u);
}
