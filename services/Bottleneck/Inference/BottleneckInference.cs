using ConceptSuite.Contracts;
using ConceptSuite.Core.Concepts;
using ConceptSuite.Core.Streaming;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Bottleneck.Inference;

/// <summary>
/// What Predict, Intervene and Contributions compute on a stored model: plain tensor work, run by
/// the service inside a dispose scope (<see cref="TensorReplies"/>); each result is a contiguous
/// CPU tensor named as in bottleneck.proto.
/// </summary>
public static class BottleneckInference
{
    /// <summary>"logits", "concepts", "predictions" of one block of inputs (or of concept scores).</summary>
    public static IEnumerable<NamedTensor> Predict(ConceptModel model, Tensor block, bool inputsAreConcepts, Device device)
    {
        using var mode = inference_mode();
        var x = block.to(device);
        Tensor concepts, logits;
        if (inputsAreConcepts) { concepts = x.clone(); logits = model.Logits(x); }
        else { var f = model.Forward(x); concepts = f.Concepts; logits = f.Logits; }
        return Cpu(("logits", logits), ("concepts", concepts), ("predictions", logits.argmax(1)));
    }

    /// <summary>The prediction with the named concepts overridden, and the one before.</summary>
    public static IEnumerable<NamedTensor> Intervene(ConceptModel model, InterveneConfig config, IReadOnlyList<int> indices,
        Dictionary<string, (Tensor Tensor, List<string> Ids)> received, Device device)
    {
        foreach (var name in received.Keys)
            if (name is not ("inputs" or "values")) throw new InvalidInputException("blocks", $"unknown tensor '{name}'; expected inputs, values");
        var x = Inputs(received, model, device);
        Tensor values;
        if (received.TryGetValue("values", out var v)) values = v.Tensor.to(ScalarType.Float32);
        else if (config.Values.Count == indices.Count) values = tensor(config.Values.ToArray());
        else throw new InvalidInputException("config.values", $"send a 'values' block [N, {indices.Count}] or {indices.Count} config values (got {config.Values.Count})");
        using var mode = inference_mode();
        var before = model.Forward(x).Logits;
        var (concepts, after) = model.Intervene(x, indices, values.to(device), "values");
        return Cpu(("concepts", concepts), ("logits", after), ("predictions", after.argmax(1)), ("original_logits", before), ("original_predictions", before.argmax(1)));
    }

    /// <summary>Per-concept contributions to one class per row (given or predicted) or to every class.</summary>
    public static IEnumerable<NamedTensor> Contributions(ConceptModel model, ContributionsConfig config,
        Dictionary<string, (Tensor Tensor, List<string> Ids)> received, Device device)
    {
        foreach (var name in received.Keys)
            if (name is not ("inputs" or "classes")) throw new InvalidInputException("blocks", $"unknown tensor '{name}'; expected inputs, classes");
        var x = Inputs(received, model, device);
        using var mode = inference_mode();
        var f = model.Forward(x);
        Tensor classes;
        if (received.TryGetValue("classes", out var c))
        {
            classes = c.Tensor;
            if (classes.dtype is not (ScalarType.Int64 or ScalarType.Int32) || classes.dim() != 1 || classes.shape[0] != x.shape[0])
                throw new InvalidInputException("classes", $"must be int64 [{x.shape[0]}], got {classes.dtype} [{string.Join(", ", classes.shape)}]");
            classes = classes.to(ScalarType.Int64).to(device);
            if (classes.min().item<long>() < 0 || classes.max().item<long>() >= model.ClassCount)
                throw new InvalidInputException("classes", $"class indices must be in [0, {model.ClassCount})");
        }
        else classes = f.Logits.argmax(1);
        var contributions = config.AllClasses ? model.ContributionsAll(f.Concepts, x) : model.Contributions(f.Concepts, classes, x);
        // An energy head's contributions are per-concept ablations, not additive: its "bias" is the
        // remainder, the logit minus their sum (interactions and the energy of the all-off state).
        var bias = model.IsEnergy
            ? f.Logits.gather(1, classes.unsqueeze(1)).squeeze(1) - (config.AllClasses
                ? contributions.sum(2).gather(1, classes.unsqueeze(1)).squeeze(1) : contributions.sum(1))
            : model.HeadBias.index_select(0, classes);
        var residual = f.ResidualLogits is { } r ? r.gather(1, classes.unsqueeze(1)).squeeze(1) : zeros(x.shape[0], device: x.device);
        return Cpu(("contributions", contributions), ("classes", classes.clone()), ("bias", bias), ("residual", residual), ("logits", f.Logits));
    }

    static Tensor Inputs(Dictionary<string, (Tensor Tensor, List<string> Ids)> received, ConceptModel model, Device device)
    {
        if (!received.TryGetValue("inputs", out var inputs)) throw new InvalidInputException("inputs", "required: blocks named 'inputs' [N, D]");
        var x = inputs.Tensor;
        if (!x.is_floating_point() || x.dim() != 2 || x.shape[1] != model.InputDim)
            throw new InvalidInputException("inputs", $"must be float [N, {model.InputDim}], got {x.dtype} [{string.Join(", ", x.shape)}]");
        return x.to(ScalarType.Float32).to(device);
    }

    /// <summary>Contiguous CPU copies (the caller owns them, never the model).</summary>
    static NamedTensor[] Cpu(params (string Name, Tensor Tensor)[] tensors) =>
        tensors.Select(t => new NamedTensor(t.Name, t.Tensor.cpu().contiguous().clone())).ToArray();
}
