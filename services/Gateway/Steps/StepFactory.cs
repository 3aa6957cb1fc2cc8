namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// What a <see cref="WorkflowSteps.Family"/> entry makes from a step's parsed options: a factory
/// that takes the gateway's services (for the executor's dependencies) and builds the executor.
/// </summary>
public delegate IStepExecutor StepFactory(IServiceProvider services);
