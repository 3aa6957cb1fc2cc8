namespace ConceptSuite.Contracts;

/// <summary>
/// Bad input: names the request field at fault and the rule it broke. Servers answer it with
/// INVALID_ARGUMENT and the message "field: rule"; clients can raise it before sending.
/// </summary>
public sealed class InvalidInputException(string field, string rule) : ArgumentException($"{field}: {rule}")
{
    /// <summary>The request field at fault, as a path ("config.k", "blocks[3].tensor.shape").</summary>
    public string Field { get; } = field;

    /// <summary>The rule the value broke.</summary>
    public string Rule { get; } = rule;
}

/// <summary>A named thing (artifact, model, method, concept) that does not exist: NOT_FOUND.</summary>
public sealed class NotFoundException(string what, string name) : Exception($"{what} '{name}' not found")
{
    public string What { get; } = what;
    public string Name { get; } = name;
}

/// <summary>A bounded resource (job slots, queue, memory limit) is full: RESOURCE_EXHAUSTED.</summary>
public sealed class ResourceExhaustedException(string message) : Exception(message);
