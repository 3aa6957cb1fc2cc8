using ConceptSuite.Core.Methods;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// What a step method takes and gives besides its options: the stage that serves it when a step
/// names none, its artifact inputs (required and optional) and its outputs. Carried as the
/// method's traits ("stage", "inputs", "optional_inputs", "outputs": comma lists), so ListMethods
/// shows them. <see cref="ReadsWorkflow"/> marks a method that reads the whole workflow's state
/// (the atlas): its step key includes the workflow id.
/// </summary>
public sealed record StepSignature(string Stage, IReadOnlyList<string> Inputs, IReadOnlyList<string> OptionalInputs,
    IReadOnlyList<string> Outputs, bool ReadsWorkflow = false)
{
    public IReadOnlyDictionary<string, string> Traits()
    {
        var t = new Dictionary<string, string>
        {
            ["stage"] = Stage,
            ["inputs"] = string.Join(",", Inputs),
            ["optional_inputs"] = string.Join(",", OptionalInputs),
            ["outputs"] = string.Join(",", Outputs),
        };
        if (ReadsWorkflow) t["reads_workflow"] = "true";
        return t;
    }

    public IEnumerable<string> AllInputs => Inputs.Concat(OptionalInputs);

    public static StepSignature Of(MethodEntry<StepFactory> entry)
    {
        static string[] List(string? v) => string.IsNullOrEmpty(v) ? [] : v.Split(',');
        return new(entry.Trait("stage") ?? GatewayStage.Name, List(entry.Trait("inputs")), List(entry.Trait("optional_inputs")),
            List(entry.Trait("outputs")), entry.Trait("reads_workflow") == "true");
    }
}
