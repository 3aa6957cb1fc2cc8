using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Concepts;
using ConceptSuite.Core.Streaming;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Explain.Importance;
using Grpc.Core;
using TorchSharp;

namespace ConceptSuite.Explain;

/// <summary>
/// The tensors of one request: the named blocks of its stream, falling back to the artifact the
/// config names. Checks presence, rank, dtype and row agreement, naming the tensor as the field.
/// </summary>
public sealed class ExplainInputs : IDisposable
{
    readonly Dictionary<string, torch.Tensor> _tensors;
    readonly ArtifactReader? _artifact;
    ConceptModel? _model;

    ExplainInputs(Dictionary<string, torch.Tensor> tensors, ArtifactReader? artifact)
    {
        _tensors = tensors; _artifact = artifact;
    }

    /// <summary>Reads a "config first, then blocks" stream; tensors it lacks come from the config's artifact.</summary>
    public static async Task<(TConfig Config, ExplainInputs Inputs)> ReadAsync<TRequest, TConfig>(
        IAsyncStreamReader<TRequest> reader, Func<TRequest, TConfig?> config, Func<TRequest, TensorBlock?> block,
        Func<TConfig, ArtifactRef?> artifact, ArtifactStore store, CancellationToken ct) where TConfig : class
    {
        var (cfg, blocks) = await ConfigFirstStream.ReadAsync(reader, config, block, ct);
        var rules = new TensorStreamRules { RejectEmpty = false, RejectNonFinite = true, Field = "blocks" };
        var all = await TensorStreams.AssembleAllAsync(blocks, rules, ct);
        var id = artifact(cfg)?.Id;
        var source = string.IsNullOrEmpty(id) ? null : store.Open(id, "config.artifact.id");
        return (cfg, new ExplainInputs(all.ToDictionary(kv => kv.Key, kv => kv.Value.Tensor), source));
    }

    public bool Has(string name) => _tensors.ContainsKey(name) || (_artifact?.Has(name) ?? false);

    public torch.Tensor? Optional(string name)
    {
        if (_tensors.TryGetValue(name, out var t)) return t;
        if (_artifact is not null && _artifact.Has(name)) return _tensors[name] = _artifact.Read(name);
        return null;
    }

    public torch.Tensor Require(string name) =>
        Optional(name) ?? throw new InvalidInputException(name, _artifact is null ? "tensor missing from the stream" : "tensor missing from the stream and the artifact");

    /// <summary>An integer vector [N] (class indices).</summary>
    public long[] Indices(string name, long? rows = null)
    {
        var t = Require(name);
        if (t.dim() != 1) throw new InvalidInputException(name, $"expected a vector [N], got rank {t.dim()}");
        if (t.is_floating_point()) throw new InvalidInputException(name, "expected an integer dtype (int64 class indices)");
        if (rows is long n && t.shape[0] != n) throw new InvalidInputException(name, $"has {t.shape[0]} rows, expected {n} (one per sample)");
        return t.to_type(torch.ScalarType.Int64).data<long>().ToArray();
    }

    /// <summary>Uses the stored bottleneck model <paramref name="model"/>, when given, as the head (NOT_FOUND when absent).</summary>
    public void UseModel(ArtifactRef? model, ArtifactStore store, string field = "config.model.id")
    {
        if (string.IsNullOrEmpty(model?.Id)) return;
        _model = ConceptModel.Load(store, model.Id, null, field);
    }

    /// <summary>"coefficients" [N, K], or, with a bottleneck model, its concept scores of "inputs" [N, D].</summary>
    public torch.Tensor Coefficients()
    {
        if (Optional("coefficients") is { } u) return ExplainTensors.Matrix(u, "coefficients");
        if (_model is null) throw new InvalidInputException("coefficients", "tensor missing (send it, or a model and \"inputs\")");
        var x = ExplainTensors.Matrix(Require("inputs"), "inputs");
        if (x.shape[1] != _model.InputDim) throw new InvalidInputException("inputs", $"has {x.shape[1]} features, the model takes {_model.InputDim}");
        using (torch.inference_mode())
            return _tensors["coefficients"] = _model.Concepts(x.to_type(torch.ScalarType.Float32)).to_type(torch.ScalarType.Float64).DetachFromDisposeScope();
    }

    /// <summary>
    /// The concept head: the bottleneck model when one was named; else "head_weight" [C, K] on the
    /// coefficients, or [C, D] on the activations of "dictionary" [K, D]; optional "head_bias" [C].
    /// </summary>
    public IConceptHead Head(long concepts)
    {
        if (_model is not null)
        {
            if (_model.ConceptCount != concepts) throw new InvalidInputException("coefficients", $"has {concepts} concepts, the model has {_model.ConceptCount}");
            return new BottleneckConceptHead(_model);
        }
        var w = Require("head_weight");
        if (w.dim() != 2) throw new InvalidInputException("head_weight", $"expected [C, K] or [C, D], got rank {w.dim()}");
        var b = Optional("head_bias");
        if (w.shape[1] == concepts) return new LinearConceptHead(w, b);
        var v = Optional("dictionary");
        if (v is not null && v.dim() == 2 && v.shape[0] == concepts && w.shape[1] == v.shape[1]) return new DictionaryLinearHead(v, w, b);
        throw new InvalidInputException("head_weight", $"has {w.shape[1]} inputs: expected K = {concepts} (the coefficients' concepts) or D of a \"dictionary\" [K, D]");
    }

    public void Dispose()
    {
        foreach (var t in _tensors.Values) t.Dispose();
        _artifact?.Dispose();
        _model?.Dispose();
    }
}
