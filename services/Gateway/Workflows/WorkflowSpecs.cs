using System.Text.RegularExpressions;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Methods;
using ConceptSuite.Gateway.Steps;

namespace ConceptSuite.Gateway.Workflows;

/// <summary>
/// Checks a workflow spec before anything runs, derives its content id, and resolves the
/// references of a step ("$params.NAME", "$steps.STEP.OUTPUT") against the workflow's state.
/// </summary>
public static partial class WorkflowSpecs
{
    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,63}$")]
    private static partial Regex StepName();

    [GeneratedRegex("^[a-z][a-z0-9-]{0,31}$")]
    private static partial Regex StageName();

    public const string ParamPrefix = "$params.";
    public const string StepPrefix = "$steps.";

    /// <summary>Defaults merged with the request's values; unknown parameter names are refused.</summary>
    public static Dictionary<string, string> Parameters(WorkflowSpec spec, IReadOnlyDictionary<string, string> given)
    {
        var p = new Dictionary<string, string>(spec.Defaults, StringComparer.Ordinal);
        var referenced = spec.Steps.SelectMany(s => s.Inputs.Values.Concat(s.Options.Values))
            .Where(v => v.StartsWith(ParamPrefix, StringComparison.Ordinal)).Select(v => v[ParamPrefix.Length..]).ToHashSet();
        foreach (var (k, v) in given)
        {
            if (!p.ContainsKey(k) && !referenced.Contains(k))
                throw new InvalidInputException($"parameters.{k}", $"workflow '{spec.Name}' has no such parameter; it takes: {string.Join(", ", p.Keys.Union(referenced).Order())}");
            p[k] = v;
        }
        return p;
    }

    /// <summary>
    /// Validates names, methods, inputs, options and references (each only to earlier steps).
    /// Option values are checked against the method's schema as far as they are known before the
    /// run: literal values and parameters; values naming earlier steps' outputs are checked when
    /// the step runs.
    /// </summary>
    public static void Validate(WorkflowSpec spec, IReadOnlyDictionary<string, string> parameters)
    {
        if (string.IsNullOrWhiteSpace(spec.Name)) throw new InvalidInputException("spec.name", "is required");
        if (spec.Steps.Count == 0) throw new InvalidInputException("spec.steps", "must list at least one step");
        var outputs = new Dictionary<string, IReadOnlyList<string>>();
        for (int i = 0; i < spec.Steps.Count; i++)
        {
            var s = spec.Steps[i];
            var f = $"spec.steps[{i}]";
            if (!StepName().IsMatch(s.Name)) throw new InvalidInputException($"{f}.name", "must match [a-z0-9][a-z0-9-]{0,63}");
            if (outputs.ContainsKey(s.Name)) throw new InvalidInputException($"{f}.name", $"'{s.Name}' is used by an earlier step");
            var entry = WorkflowSteps.Family.Get(s.Method, $"{f}.method");
            var sig = StepSignature.Of(entry);
            if (s.Stage.Length > 0 && !StageName().IsMatch(s.Stage)) throw new InvalidInputException($"{f}.stage", "must match [a-z][a-z0-9-]{0,31}");
            foreach (var (name, value) in s.Inputs)
            {
                if (!sig.AllInputs.Contains(name))
                    throw new InvalidInputException($"{f}.inputs.{name}", $"{s.Method} takes inputs: {(sig.AllInputs.Any() ? string.Join(", ", sig.AllInputs) : "(none)")}");
                CheckReference(value, $"{f}.inputs.{name}", parameters, outputs, artifact: true);
            }
            foreach (var need in sig.Inputs)
                if (!s.Inputs.ContainsKey(need)) throw new InvalidInputException($"{f}.inputs.{need}", $"{s.Method} requires it");
            var known = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (name, value) in s.Options)
            {
                CheckReference(value, $"{f}.options.{name}", parameters, outputs, artifact: false);
                if (!value.StartsWith(StepPrefix, StringComparison.Ordinal))
                    known[name] = value.StartsWith(ParamPrefix, StringComparison.Ordinal) ? parameters[value[ParamPrefix.Length..]] : value;
                else known[name] = "";
            }
            // Unknown names fail here; so do known values out of their range or type.
            OptionValues.Parse(entry.Options, Given(known), f);
            outputs[s.Name] = sig.Outputs;
        }
    }

    /// <summary>The options a step was given, without empty values (an empty value means the default).</summary>
    public static Dictionary<string, string> Given(IReadOnlyDictionary<string, string> options) =>
        options.Where(kv => kv.Value.Length > 0).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);

    static void CheckReference(string value, string field, IReadOnlyDictionary<string, string> parameters,
        Dictionary<string, IReadOnlyList<string>> earlier, bool artifact)
    {
        if (value.StartsWith(ParamPrefix, StringComparison.Ordinal))
        {
            var p = value[ParamPrefix.Length..];
            if (!parameters.TryGetValue(p, out var v)) throw new InvalidInputException(field, $"parameter '{p}' has no value");
            if (artifact && !ArtifactId.IsValid(v)) throw new InvalidInputException($"parameters.{p}", "must be an artifact id (64 lowercase hex characters)");
        }
        else if (value.StartsWith(StepPrefix, StringComparison.Ordinal))
        {
            var parts = value[StepPrefix.Length..].Split('.');
            if (parts.Length != 2) throw new InvalidInputException(field, $"'{value}' must be $steps.STEP.OUTPUT");
            if (!earlier.TryGetValue(parts[0], out var outs)) throw new InvalidInputException(field, $"'{value}': no earlier step '{parts[0]}'");
            if (!outs.Contains(parts[1])) throw new InvalidInputException(field, $"'{value}': step '{parts[0]}' outputs {string.Join(", ", outs)}");
        }
        else if (artifact && !ArtifactId.IsValid(value))
        {
            throw new InvalidInputException(field, $"'{value}' is neither a reference nor an artifact id");
        }
    }

    /// <summary>The workflow's id: 16 hex characters of the sha256 over the canonical spec and parameters.</summary>
    public static string IdOf(WorkflowSpec spec, IReadOnlyDictionary<string, string> parameters)
    {
        var parts = new List<string> { "workflow", spec.Name };
        foreach (var s in spec.Steps)
        {
            parts.AddRange(["step", s.Name, s.Stage, s.Method]);
            foreach (var (k, v) in s.Inputs.OrderBy(kv => kv.Key, StringComparer.Ordinal)) parts.AddRange(["in", k, v]);
            foreach (var (k, v) in s.Options.OrderBy(kv => kv.Key, StringComparer.Ordinal)) parts.AddRange(["opt", k, v]);
        }
        foreach (var (k, v) in parameters.OrderBy(kv => kv.Key, StringComparer.Ordinal)) parts.AddRange(["param", k, v]);
        return ArtifactId.Of(parts.ToArray())[..16];
    }

    /// <summary>A value with its reference replaced by what it names in <paramref name="info"/>.</summary>
    public static string Resolve(string value, WorkflowInfo info)
    {
        if (value.StartsWith(ParamPrefix, StringComparison.Ordinal)) return info.Parameters[value[ParamPrefix.Length..]];
        if (!value.StartsWith(StepPrefix, StringComparison.Ordinal)) return value;
        var parts = value[StepPrefix.Length..].Split('.');
        var step = info.Steps.First(s => s.Name == parts[0]);
        return step.Outputs.TryGetValue(parts[1], out var r) ? r.Id
            : throw new InvalidOperationException($"step '{parts[0]}' finished without output '{parts[1]}'");
    }

    /// <summary>
    /// The step's content key: method, stage, resolved inputs and options, and the workflow id for
    /// a method that reads the whole workflow (<see cref="StepSignature.ReadsWorkflow"/>).
    /// </summary>
    public static string StepKey(string method, string stage, IReadOnlyDictionary<string, string> inputs, IReadOnlyDictionary<string, string> options,
        string? workflowId = null)
    {
        var parts = new List<string> { "step", method, stage };
        if (workflowId is not null) parts.AddRange(["workflow", workflowId]);
        foreach (var (k, v) in inputs.OrderBy(kv => kv.Key, StringComparer.Ordinal)) parts.AddRange(["in", k, v]);
        foreach (var (k, v) in options.OrderBy(kv => kv.Key, StringComparer.Ordinal)) parts.AddRange(["opt", k, v]);
        return ArtifactId.Of(parts.ToArray());
    }
}
