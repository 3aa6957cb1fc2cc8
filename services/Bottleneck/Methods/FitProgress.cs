namespace ConceptSuite.Bottleneck.Methods;

/// <summary>Reports training progress (phase, done, total).</summary>
public delegate void FitProgress(string phase, long done, long total);
