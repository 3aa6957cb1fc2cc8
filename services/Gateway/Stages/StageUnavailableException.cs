namespace ConceptSuite.Gateway.Stages;

/// <summary>A stage cannot be reached or does not serve what the workflow needs.</summary>
public sealed class StageUnavailableException(string stage, string address, string why)
    : Exception($"stage '{stage}' at {address}: {why}")
{
    public string Stage { get; } = stage;
}
