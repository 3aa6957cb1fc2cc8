namespace ConceptSuite.Bottleneck.Methods;

/// <summary>
/// One kind of bottleneck model (sklearn-like: hyper-parameters in the constructor, as a typed
/// options record; a fitted <see cref="Core.Concepts.ConceptModel"/> out). A new model type is one
/// file implementing this plus one line in <see cref="BottleneckMethods"/>.
/// </summary>
public interface IBottleneckMethod
{
    /// <summary>Registry name (TrainConfig.model_type).</summary>
    string Name { get; }

    /// <summary>Fits the model. Throws <see cref="Contracts.InvalidInputException"/> for unusable input. The
    /// model's spec carries only the options the fit resolved (e.g. "auto" choices); the job adds the rest.</summary>
    BottleneckFit Fit(BottleneckData data, FitProgress progress, CancellationToken ct);

    /// <summary>
    /// Checks, before the job starts and before the fit allocates, what the options would expand to
    /// on this data (INVALID_ARGUMENT naming config.options.*; RESOURCE_EXHAUSTED through
    /// <paramref name="budget"/>). Most types have nothing to check beyond their option bounds.
    /// </summary>
    void CheckRequest(BottleneckData data, Core.Limits.RequestBudget budget) { }
}
