using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Importance;

/// <summary>
/// Gradient × input on the concept coefficients (Shrikumar et al. 2017; Fel et al. 2023, §4):
/// φᵢ = uᵢ · ∂h(u)_c / ∂uᵢ. For a linear head it is exactly the concept's contribution w_{c,i} uᵢ.
/// </summary>
public sealed class GradientInput : IConceptImportance
{
    public Tensor Explain(IConceptHead head, Tensor coefficients, long[] targets)
    {
        using var scope = torch.NewDisposeScope();
        var u = ImportanceEstimators.Check(head, coefficients, targets);
        return (u * Gradients(head, u, targets)).MoveToOuterDisposeScope();
    }

    /// <summary>∂h(u)_{c_n}/∂u for every row n, [N, K].</summary>
    public static Tensor Gradients(IConceptHead head, Tensor u, long[] targets)
    {
        using var grad = torch.enable_grad();
        var x = u.detach().clone().requires_grad_(true);
        var logits = head.Forward(x);
        var idx = torch.tensor(targets, ScalarType.Int64).unsqueeze(1);
        var picked = logits.gather(1, idx).sum();
        var g = torch.autograd.grad([picked], [x])[0];
        return g.detach();
    }
}
