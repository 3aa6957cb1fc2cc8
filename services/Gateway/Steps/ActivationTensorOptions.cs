using ConceptSuite.Core.Methods;

namespace ConceptSuite.Gateway.Steps;

/// <summary>The options of a step that streams one tensor of an activation artifact through a stage: which tensor.</summary>
public sealed record ActivationTensorOptions(string Tensor)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Text("tensor", "activations", "the activation tensor of the input artifact"),
    ];

    public static ActivationTensorOptions From(OptionValues o) => new(o.Text("tensor"));
}
