using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Bottleneck.Methods;

/// <summary>
/// What a bottleneck model trains on (all tensors on one device, validated by the service):
/// features [N, D] float32, labels [N] int64 in [0, C); optional per-row concept truth
/// [N, K] in [0, 1]; optional concept directions [K, D] (dictionary atoms or text embeddings);
/// optional class text embeddings [C, D]; optional held-out rows (used for choices along a path).
/// </summary>
public sealed record BottleneckData(
    Tensor Features,
    Tensor Labels,
    IReadOnlyList<string> ClassNames,
    IReadOnlyList<string> ConceptNames,
    Tensor? ConceptLabels = null,
    Tensor? ConceptBank = null,
    Tensor? ClassEmbeddings = null,
    long Seed = 0,
    Tensor? EvalFeatures = null,
    Tensor? EvalLabels = null)
{
    /// <summary>Optional held-out concept truth [M, K] (scored, never trained on).</summary>
    public Tensor? EvalConceptLabels { get; init; }
    public int Classes => ClassNames.Count;
    public int InputDim => (int)Features.shape[1];
}
