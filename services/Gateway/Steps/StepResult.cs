using ConceptSuite.Contracts;

namespace ConceptSuite.Gateway.Steps;

/// <summary>What a step produced: artifacts by output name and final metrics.</summary>
public sealed record StepResult(IReadOnlyDictionary<string, ArtifactRef> Outputs, IReadOnlyDictionary<string, double> Metrics);
