using static TorchSharp.torch;

namespace ConceptSuite.Generate.Editing;

/// <summary>One concept found in an image.</summary>
public sealed record ExtractedConceptResult(Tensor Mask, Tensor Token, string NearestConcept, double NearestCosine,
    Tensor Regenerations, IReadOnlyDictionary<string, string> RegeneratedConcepts, IReadOnlyDictionary<string, string> SourceConcepts, double FinalLoss);
