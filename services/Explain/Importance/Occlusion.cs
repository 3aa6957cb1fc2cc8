using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Importance;

/// <summary>
/// Occlusion (concept removal; Zeiler and Fergus 2014, on concepts as in Fel et al. 2023):
/// φᵢ = h(u)_c − h(u with uᵢ = 0)_c.
/// </summary>
public sealed class Occlusion : IConceptImportance
{
    public Tensor Explain(IConceptHead head, Tensor coefficients, long[] targets)
    {
        using var scope = torch.NewDisposeScope();
        var u = ImportanceEstimators.Check(head, coefficients, targets);
        long n = u.shape[0], k = u.shape[1];
        var result = torch.zeros([n, k], ScalarType.Float64);
        using (torch.inference_mode())
        {
            var keep = 1 - torch.eye(k, dtype: ScalarType.Float64);
            for (long s = 0; s < n; s++)
            {
                var row = u[s].unsqueeze(0);
                var full = ImportanceEstimators.TargetLogit(head, row, targets[s]);
                var removed = ImportanceEstimators.TargetLogit(head, row * keep, targets[s]);
                result[s] = full - removed;
            }
        }
        return result.MoveToOuterDisposeScope();
    }
}
