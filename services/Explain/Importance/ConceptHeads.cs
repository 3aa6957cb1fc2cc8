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

/// <summary>A linear head on the coefficients (a concept bottleneck's head): logits = U Wᵀ + b, W [C, K].</summary>
public sealed class LinearConceptHead : IConceptHead
{
    readonly Tensor _w, _b;

    public LinearConceptHead(Tensor weight, Tensor? bias = null)
    {
        if (weight.dim() != 2) throw new Contracts.InvalidInputException("head_weight", "expected [C, K]");
        _w = weight.to_type(ScalarType.Float64).detach().clone();
        _b = bias is null ? torch.zeros(weight.shape[0], ScalarType.Float64) : bias.to_type(ScalarType.Float64).detach().clone();
        if (_b.dim() != 1 || _b.shape[0] != _w.shape[0]) throw new Contracts.InvalidInputException("head_bias", $"expected [{_w.shape[0]}]");
    }

    public long Concepts => _w.shape[1];
    public long Classes => _w.shape[0];
    public Tensor Weight => _w;
    public Tensor Forward(Tensor u) => u.matmul(_w.t()) + _b;
}

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
