namespace ConceptSuite.Generate.Evaluation;

/// <summary>How often generations asking for a concept show it, by the concept classifier.</summary>
/// <param name="Rate">Fraction of samples whose predicted concept of the group is the requested one.</param>
/// <param name="Chance">1/|group|: the rate of a generator that ignores the request.</param>
public sealed record ConceptRate(string Concept, string Group, double Rate, double Chance, int Samples);
