namespace ConceptSuite.Generate.Evaluation;

/// <summary>Per-concept and per-prompt rates of one evaluation.</summary>
public sealed record EvaluationReport(IReadOnlyList<ConceptRate> Concepts, IReadOnlyList<PromptRate> Prompts)
{
    public double RateOf(string concept) => Concepts.First(c => c.Concept == concept).Rate;
}
