using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Generate.Editing;

/// <summary>The edit to apply to every cross-attention key/value projection.</summary>
/// <param name="EraseKeys">c_i [n_e, D].</param>
/// <param name="TargetKeys">the embeddings whose projections are the targets, v*_i = W t_i [n_e, D].</param>
/// <param name="PreserveKeys">c_j [n_p, D].</param>
/// <param name="MinedConcepts">vocabulary concepts added to the erase set by mining.</param>
public sealed record EditPlan(Tensor EraseKeys, Tensor TargetKeys, Tensor PreserveKeys, IReadOnlyList<string> ErasedConcepts,
    IReadOnlyList<string> PreservedConcepts, IReadOnlyList<string> MinedConcepts, int NeighbourKeys, int BeyondKeys);
