using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Importance;

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
