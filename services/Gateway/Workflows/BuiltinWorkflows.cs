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
        ["discover-name-cbm"] = DiscoverNameCbm,
    };

    /// <summary>
    /// Fashion-MNIST → backbone activations → TopK sparse autoencoder dictionary → top examples
    /// per concept (for the atlas). Naming, the sparse probe and PCBM-h, and the importance and
    /// trust metrics join this list as their stage calls land.
    /// </summary>
    static WorkflowSpec DiscoverNameCbm() => Spec("discover-name-cbm",
        [("train_rows", "2000"), ("test_rows", "500"), ("model", "resnet18"), ("concepts", "64"), ("sae_options", "k=8;epochs=20;batch_size=256"), ("seed", "0")],
        Step("import-train", "dataset.import", options: [("source", "fashion-mnist"), ("split", "train"), ("limit", "$params.train_rows")]),
        Step("import-test", "dataset.import", options: [("source", "fashion-mnist"), ("split", "test"), ("limit", "$params.test_rows")]),
        Step("embed-train", "embedding.embed", [("dataset", "$steps.import-train.dataset")], [("model", "$params.model")]),
        Step("embed-test", "embedding.embed", [("dataset", "$steps.import-test.dataset")], [("model", "$params.model")]),
        Step("discover", "discovery.fit", [("activations", "$steps.embed-train.activations")],
            [("method", "topk_sae"), ("concepts", "$params.concepts"), ("method_options", "$params.sae_options"), ("seed", "$params.seed")]),
        Step("top-examples", "discovery.top-examples",
            [("dictionary", "$steps.discover.dictionary"), ("activations", "$steps.embed-test.activations"), ("dataset", "$steps.import-test.dataset")], [("k", "6")]));

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
