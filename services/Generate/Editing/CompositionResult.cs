using static TorchSharp.torch;

namespace ConceptSuite.Generate.Editing;

/// <summary>The composed images [N, 3, H, W] and the layout check of each region; the layout score is the checks' mean rate.</summary>
public sealed record CompositionResult(Tensor Images, IReadOnlyList<RegionResult> Checks)
{
    public double LayoutScore => Checks.Count == 0 ? 0 : Checks.Average(c => c.Rate);
}
