namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// One run of a workflow step method ("dataset.import", "discovery.fit", ...), built by the
/// method's entry in <see cref="WorkflowSteps.Family"/> with its options already parsed into a
/// typed record. Everything else a run needs comes in the <see cref="StepContext"/>. A step must
/// be deterministic in its inputs and options (same inputs → same artifact ids), which is what
/// makes steps safe to retry and to skip after a crash.
/// </summary>
public interface IStepExecutor
{
    Task<StepResult> ExecuteAsync(StepContext context);
}
