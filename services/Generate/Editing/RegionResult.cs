namespace ConceptSuite.Generate.Editing;

/// <summary>Layout check of one region: the classifier's hit rate for the requested concept inside it.</summary>
public sealed record RegionResult(int Region, string Group, string Requested, double Rate);
