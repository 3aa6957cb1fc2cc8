namespace ConceptSuite.Generate.Editing;

/// <summary>One concept's rate before and after an edit.</summary>
/// <param name="PixelDrift">Mean absolute pixel change (0–1 scale) of its generations for the same seeds.</param>
/// <param name="NeutralRate">
/// The original generator's rate of the concept for the same prompts with its word removed ("a
/// red square" → "a square"): where a perfect erasure to the neutral prompt lands. It equals the
/// chance 1/|group| only when the generator's marginal over the group is uniform.
/// </param>
public sealed record ConceptChange(string Concept, double RateBefore, double RateAfter, double Chance, double PixelDrift, double NeutralRate);
