namespace ConceptSuite.Generate.Evaluation;

/// <summary>Per-prompt result: for each requested concept the classifier can judge, its rate.</summary>
public sealed record PromptRate(string Prompt, IReadOnlyDictionary<string, double> Rates, int Samples);
