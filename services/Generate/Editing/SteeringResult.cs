using static TorchSharp.torch;

namespace ConceptSuite.Generate.Editing;

/// <summary>The classifier's mean probability and rate of the concept before and after steering, and both image sets [N, 3, H, W].</summary>
public sealed record SteeringResult(double ScoreBefore, double ScoreAfter, double RateBefore, double RateAfter, Tensor ImagesBefore, Tensor ImagesAfter);
