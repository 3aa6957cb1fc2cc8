using ConceptSuite.Core.Concepts;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Importance;

/// <summary>
/// A stored bottleneck model (Core's shared <see cref="ConceptModel"/>, loaded from a "bottleneck"
/// artifact) as a concept head: concept scores c [N, K] → the model's own head on
/// z = (c − μ_c)/σ_c (ℓ2-normalised when the model says so): z W_hᵀ + b_h for a linear head,
/// s·‖S_jᵀz‖ + b_j for a Grassmann head, −λ_g E_global(c, y) for an energy head (ECBM: the part of
/// its negative energy that depends on both the concepts and the class; E_class(x, y) does not
/// depend on c and λ_c E_concept(x, c) is the same for every class) (the last two nonlinear;
/// estimators that take gradients get them by autograd through <see cref="ConceptModel.Logits"/>,
/// the one implementation). A PCBM-h residual x̃ W_rᵀ + b_r does
/// not depend on the concepts, so it is left out: it adds a per-sample constant that cancels in
/// every estimator and metric built on score differences or variances.
/// </summary>
public sealed class BottleneckConceptHead(ConceptModel model) : IConceptHead
{
    public ConceptModel Model { get; } = model;
    public long Concepts => Model.ConceptCount;
    public long Classes => Model.ClassCount;
    public Tensor Forward(Tensor coefficients) => Model.Logits(coefficients.to_type(ScalarType.Float32)).to_type(ScalarType.Float64);
}
