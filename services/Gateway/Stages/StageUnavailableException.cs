namespace ConceptSuite.Gateway.Stages;

/// <summary>
/// A stage cannot be reached or does not serve what the workflow needs. <see cref="Transient"/>:
/// it may come back (unreachable, not yet serving); otherwise the address serves no such stage.
/// </summary>
public sealed class StageUnavailableException(string stage, string address, string why, bool transient = true)
    : Exception($"stage '{stage}' at {address}: {why}")
{
    public string Stage { get; } = stage;
    public bool Transient { get; } = transient;
}
