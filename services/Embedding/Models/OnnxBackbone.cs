using ConceptSuite.Contracts;
using ConceptSuite.Core.Caching;
using ConceptSuite.Embedding.Onnx;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using TorchSharp;

namespace ConceptSuite.Embedding.Models;

/// <summary>
/// An ONNX model run by ONNX Runtime. On load the graph's batch dimension is made symbolic and
/// every declared tap becomes a graph output, so one session serves every batch size and tap set;
/// an optional preprocessing model (e.g. ResNetPreprocess.onnx) runs first. When the operator
/// allows it (<see cref="OnnxSettings.AllowUndeclaredTaps"/>), graph values that are not declared
/// taps can be requested by name: a session with those outputs added is built on demand and kept
/// in a cache bounded by count and bytes, so clients naming ever new combinations cannot grow it.
/// </summary>
public sealed class OnnxBackbone : IBackbone
{
    readonly byte[] _editedModel;
    readonly InferenceSession _main;
    readonly InferenceSession? _pre;
    readonly string _inputName;
    readonly string? _preInput;
    readonly string? _preOutput;
    readonly PixelNormalization? _norm;
    readonly Dictionary<string, OnnxTap> _declared;
    readonly HashSet<string> _graphValues;
    readonly LeasedLruCache<string, InferenceSession> _extra;
    readonly bool _allowUndeclared;
    readonly SessionOptions _options;
    List<TapSpec>? _taps;
    readonly object _shapeLock = new();

    /// <summary>An ONNX model read from files (the bundled models, the model directory).</summary>
    public OnnxBackbone(string name, string version, string source, string modelPath, InputSpec input, IReadOnlyList<OnnxTap> taps,
        string? preprocessPath = null, PixelNormalization? normalization = null, OnnxSettings? settings = null)
        : this(name, version, source, File.ReadAllBytes(modelPath), input, taps,
            preprocessPath is null ? null : File.ReadAllBytes(preprocessPath), normalization, settings) { }

    /// <summary>
    /// An ONNX model from its bytes (and those of an optional preprocessing model). A file that is
    /// not a loadable ONNX model, a graph without exactly one [N, C, H, W] input, or a tap that is
    /// no value of the graph is INVALID_ARGUMENT naming <c>model</c> / <c>preprocess</c> / <c>taps</c>.
    /// </summary>
    public OnnxBackbone(string name, string version, string source, byte[] model, InputSpec input, IReadOnlyList<OnnxTap> taps,
        byte[]? preprocess, PixelNormalization? normalization = null, OnnxSettings? settings = null)
    {
        Name = name; Version = version; Source = source; Input = input; _norm = normalization;
        if (taps.Count == 0) throw new InvalidInputException("taps", $"model '{name}' declares no taps");
        var s = settings ?? new OnnxSettings();
        _allowUndeclared = s.AllowUndeclaredTaps;
        _options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        if (s.Threads > 0) { _options.IntraOpNumThreads = s.Threads; _options.InterOpNumThreads = 1; }
        try
        {
            var editor = new OnnxGraphEditor(model, "model").MakeBatchSymbolic();
            if (editor.InputNames.Count != 1) throw new InvalidInputException("model", $"'{name}' must have exactly one graph input, has {editor.InputNames.Count}");
            _inputName = editor.InputNames[0];
            _graphValues = editor.NodeOutputs.ToHashSet();
            for (int i = 0; i < taps.Count; i++)
                if (!_graphValues.Contains(taps[i].Value) && !editor.InputNames.Contains(taps[i].Value))
                    throw new InvalidInputException($"taps[{i}]", $"'{taps[i].Value}' is not a value of the graph of '{name}'");
            foreach (var t in taps) editor.AddOutput(t.Value, $"taps.{t.Name}");
            _declared = taps.ToDictionary(t => t.Name);
            _editedModel = editor.ToBytes();
            _main = Session(_editedModel, "model");
            var dims = _main.InputMetadata[_inputName].Dimensions;
            if (dims.Length != 4)
                throw new InvalidInputException("model", $"the graph input '{_inputName}' has rank {dims.Length}; an image model takes [N, C, H, W]");
            // A session holds its own copy of the model's weights: its size is the model's bytes.
            _extra = new LeasedLruCache<string, InferenceSession>(s.MaxTapSessions, s.MaxTapSessionBytes, _ => _editedModel.Length, x => x.Dispose(), StringComparer.Ordinal);

            if (preprocess is not null)
            {
                var pre = new OnnxGraphEditor(preprocess, "preprocess").MakeBatchSymbolic();
                if (pre.InputNames.Count != 1 || pre.OutputNames.Count != 1)
                    throw new InvalidInputException("preprocess", "a preprocessing model must have one input and one output");
                _preInput = pre.InputNames[0];
                _preOutput = pre.OutputNames[0];
                _pre = Session(pre.ToBytes(), "preprocess");
            }
        }
        catch
        {
            _main?.Dispose();
            _pre?.Dispose();
            _extra?.Dispose();
            _options.Dispose();
            throw;
        }
    }

    InferenceSession Session(byte[] bytes, string field)
    {
        try { return new InferenceSession(bytes, _options); }
        catch (OnnxRuntimeException e) { throw new InvalidInputException(field, $"ONNX Runtime cannot load it: {e.Message}"); }
    }

    public string Name { get; }
    public string Version { get; }
    public string Kind => "onnx";
    public string Source { get; }
    public InputSpec Input { get; }

    /// <summary>Declared taps with their per-row shapes (measured once with a one-row pass).</summary>
    public IReadOnlyList<TapSpec> Taps
    {
        get
        {
            lock (_shapeLock)
            {
                if (_taps is not null) return _taps;
                using var scope = torch.NewDisposeScope();
                var probe = torch.zeros(1, Input.Channels, Input.Height, Input.Width);
                var outs = Forward(probe, _declared.Keys.ToList());
                _taps = _declared.Values.Select(t => new TapSpec(t.Name, outs[t.Name].shape.Skip(1).ToArray(), t.Value)).ToList();
                foreach (var o in outs.Values) o.Dispose();
                return _taps;
            }
        }
    }

    /// <summary>The main session's copy of the model, plus the edited model the extra sessions are built from.</summary>
    public long WeightBytes => 2L * _editedModel.Length;

    /// <summary>True when <paramref name="tap"/> is a declared tap, or a value of the graph and undeclared taps are allowed.</summary>
    public bool HasTap(string tap) => _declared.ContainsKey(tap) || _allowUndeclared && _graphValues.Contains(tap);

    /// <summary>The extra sessions kept for undeclared tap combinations.</summary>
    public LeasedLruCache<string, InferenceSession> TapSessions => _extra;

    public Dictionary<string, torch.Tensor> Forward(torch.Tensor pixels, IReadOnlyList<string> taps)
    {
        using var scope = torch.NewDisposeScope();
        var x = _norm is { } n ? n.Apply(pixels) : pixels.to_type(torch.ScalarType.Float32).contiguous();
        if (_pre is not null) x = RunOne(_pre, _preInput!, _preOutput!, x);

        var values = taps.Select(t => _declared.TryGetValue(t, out var d) ? d.Value : t).Distinct().ToList();
        var undeclared = values.Where(v => !_declared.Values.Any(d => d.Value == v)).OrderBy(v => v, StringComparer.Ordinal).ToList();
        if (undeclared.Count > 0 && !_allowUndeclared)
            throw new NotFoundException($"tap of model {Name} (undeclared taps are off: ConceptSuite:Embedding:AllowUndeclaredTaps)", undeclared[0]);
        using var lease = undeclared.Count == 0 ? null : _extra.Acquire(string.Join("\n", undeclared), _ => BuildSession(undeclared));
        var outs = Run(lease?.Value ?? _main, _inputName, x, values);
        var result = new Dictionary<string, torch.Tensor>();
        foreach (var t in taps)
        {
            var v = _declared.TryGetValue(t, out var d) ? d.Value : t;
            var o = outs[v];
            if (d is { Flatten: true }) o = o.reshape(o.shape[0], -1);
            result[t] = o.clone().DetachFromDisposeScope();
        }
        return result;
    }

    InferenceSession BuildSession(IReadOnlyList<string> extra)
    {
        var editor = new OnnxGraphEditor(_editedModel);
        foreach (var v in extra) editor.AddOutput(v);
        return new InferenceSession(editor.ToBytes(), _options);
    }

    static torch.Tensor RunOne(InferenceSession s, string input, string output, torch.Tensor x) => Run(s, input, x, [output])[output];

    /// <summary>Runs a session on a contiguous float32 CPU tensor (no copy in), copying outputs to tensors.</summary>
    static unsafe Dictionary<string, torch.Tensor> Run(InferenceSession s, string input, torch.Tensor x, IReadOnlyList<string> outputs)
    {
        var result = new Dictionary<string, torch.Tensor>();
        var span = x.bytes;
        fixed (byte* p = span)
        {
            using var value = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Float,
                x.shape, (IntPtr)p, span.Length);
            using var run = new RunOptions();
            using var outs = s.Run(run, [input], [value], outputs);
            for (int i = 0; i < outputs.Count; i++)
            {
                var o = outs[i];
                var shape = o.GetTensorTypeAndShape().Shape;
                var t = torch.empty(shape, torch.ScalarType.Float32);
                o.GetTensorDataAsSpan<float>().CopyTo(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(t.bytes));
                result[outputs[i]] = t;
            }
        }
        return result;
    }

    public void Dispose()
    {
        _main.Dispose();
        _pre?.Dispose();
        _extra.Dispose();
        _options.Dispose();
    }
}
