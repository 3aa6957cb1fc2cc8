using ConceptSuite.Core.Concepts;

namespace ConceptSuite.Bottleneck.Methods;

/// <summary>A trained model and the numbers measured while training it.</summary>
public sealed record BottleneckFit(ConceptModel Model, Dictionary<string, double> Metrics);
