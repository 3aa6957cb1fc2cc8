using ConceptSuite.Contracts;

namespace ConceptSuite.Gateway.Workflows;

/// <summary>
/// The built-in workflows as step lists. Each is data, not code: the same list a caller could
/// send as RunWorkflowRequest.spec. Parameters with defaults are listed in the spec.
/// </summary>
public static class BuiltinWorkflows
{
    static readonly Dictionary<string, Func<WorkflowSpec>> Specs = new(StringComparer.Ordinal)
    {
    };

    public static IReadOnlyCollection<string> Names => Specs.Keys;

    public static WorkflowSpec Get(string name, string field = "builtin") =>
        Specs.TryGetValue(name, out var f) ? f()
            : throw new InvalidInputException(field, $"unknown workflow '{name}'; built-in: {(Specs.Count == 0 ? "(none)" : string.Join(", ", Specs.Keys.Order()))}");

    public static IEnumerable<WorkflowSpec> All => Specs.Values.Select(f => f());

    internal static WorkflowStep Step(string name, string method, (string, string)[]? inputs = null, (string, string)[]? options = null, string stage = "")
    {
        var s = new WorkflowStep { Name = name, Method = method, Stage = stage };
        foreach (var (k, v) in inputs ?? []) s.Inputs[k] = v;
        foreach (var (k, v) in options ?? []) s.Options[k] = v;
        return s;
    }

    internal static WorkflowSpec Spec(string name, (string, string)[] defaults, params WorkflowStep[] steps)
    {
        var w = new WorkflowSpec { Name = name };
        foreach (var (k, v) in defaults) w.Defaults[k] = v;
        w.Steps.Add(steps);
        return w;
    }
}
