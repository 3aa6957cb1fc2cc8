using ConceptSuite.Contracts;
using Google.Protobuf;

namespace ConceptSuite.Embedding.Onnx;

/// <summary>
/// Edits an ONNX model's graph without touching its weights: makes the batch dimension symbolic
/// (files exported with a fixed batch of 1 then run any batch) and exposes intermediate values as
/// extra graph outputs (taps). Unknown fields (initializers, attributes, opsets) pass through.
/// </summary>
public sealed class OnnxGraphEditor
{
    readonly OnnxModel _model;

    public OnnxGraphEditor(byte[] modelBytes, string field = "model")
    {
        try { _model = OnnxModel.Parser.ParseFrom(modelBytes); }
        catch (InvalidProtocolBufferException e) { throw new InvalidInputException(field, $"not an ONNX model: {e.Message}"); }
        if (_model.Graph is null) throw new InvalidInputException(field, "ONNX model has no graph");
    }

    public IReadOnlyList<string> InputNames => _model.Graph.Input.Select(i => i.Name).ToList();
    public IReadOnlyList<string> OutputNames => _model.Graph.Output.Select(i => i.Name).ToList();

    /// <summary>Every value a node produces (candidates for taps).</summary>
    public IEnumerable<string> NodeOutputs => _model.Graph.Node.SelectMany(n => n.Output);

    /// <summary>
    /// Sets dimension 0 of every graph input and output to the symbol <paramref name="symbol"/> and
    /// drops the intermediate value infos (their fixed batch would contradict; the runtime infers them).
    /// </summary>
    public OnnxGraphEditor MakeBatchSymbolic(string symbol = "N")
    {
        foreach (var v in _model.Graph.Input.Concat(_model.Graph.Output))
        {
            var shape = v.Type?.TensorType?.Shape;
            if (shape is null || shape.Dim.Count == 0) continue;
            shape.Dim[0] = new OnnxShape.Types.Dimension { DimParam = symbol };
        }
        _model.Graph.ValueInfo.Clear();
        return this;
    }

    /// <summary>Adds <paramref name="value"/> (a node output) as a float graph output, unless it is one.</summary>
    public OnnxGraphEditor AddOutput(string value, string field = "taps")
    {
        if (_model.Graph.Output.Any(o => o.Name == value)) return this;
        if (!_model.Graph.Node.Any(n => n.Output.Contains(value)))
            throw new NotFoundException($"graph value ({field})", value);
        _model.Graph.Output.Add(new OnnxValueInfo
        {
            Name = value,
            Type = new OnnxType { TensorType = new OnnxType.Types.TensorType { ElemType = 1 } },
        });
        return this;
    }

    /// <summary>The output of the first node that reads <paramref name="input"/> (e.g. a named weight), or null.</summary>
    public string? OutputOfNodeReading(string input) =>
        _model.Graph.Node.FirstOrDefault(n => n.Input.Contains(input) && n.Output.Count > 0)?.Output[0];

    /// <summary>Keeps only the graph outputs <paramref name="names"/> (each must be one).</summary>
    public OnnxGraphEditor KeepOutputs(params string[] names)
    {
        foreach (var n in names)
            if (_model.Graph.Output.All(o => o.Name != n)) throw new NotFoundException("graph output", n);
        var kept = _model.Graph.Output.Where(o => names.Contains(o.Name)).ToList();
        _model.Graph.Output.Clear();
        _model.Graph.Output.Add(kept);
        return this;
    }

    /// <summary>
    /// Makes the graph start at <paramref name="value"/>: a new float graph input
    /// <paramref name="input"/> of rank <paramref name="rank"/> (dimensions symbolic) replaces it
    /// wherever a node reads it, then nodes the outputs no longer need are dropped, and graph
    /// inputs and initializers nothing reads. The result runs the rest of the network from a given intermediate
    /// value (e.g. a transformer's remaining layers from a residual stream); the weights only the
    /// dropped nodes read are dropped with them. Graphs with subgraphs
    /// (If, Loop) are not rewired inside them.
    /// </summary>
    public OnnxGraphEditor FeedFrom(string value, string input, int rank)
    {
        var g = _model.Graph;
        if (!g.Node.Any(n => n.Output.Contains(value))) throw new NotFoundException("graph value", value);
        foreach (var n in g.Node)
            for (int i = 0; i < n.Input.Count; i++)
                if (n.Input[i] == value) n.Input[i] = input;
        var shape = new OnnxShape();
        for (int d = 0; d < rank; d++) shape.Dim.Add(new OnnxShape.Types.Dimension { DimParam = $"{input}_{d}" });
        g.Input.Add(new OnnxValueInfo { Name = input, Type = new OnnxType { TensorType = new OnnxType.Types.TensorType { ElemType = 1, Shape = shape } } });
        return Prune();
    }

    /// <summary>
    /// Drops the nodes the graph outputs do not need, then the graph inputs and initializers
    /// nothing reads any more (ONNX Runtime runs every node of a graph, needed or not).
    /// </summary>
    public OnnxGraphEditor Prune()
    {
        var g = _model.Graph;
        // Nodes are topologically ordered: walking back from the outputs keeps exactly what they need.
        var needed = g.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var kept = new List<OnnxNode>();
        for (int i = g.Node.Count - 1; i >= 0; i--)
        {
            var n = g.Node[i];
            if (!n.Output.Any(needed.Contains)) continue;
            kept.Add(n);
            foreach (var x in n.Input) needed.Add(x);
        }
        kept.Reverse();
        g.Node.Clear();
        g.Node.Add(kept);
        var inputs = g.Input.Where(v => needed.Contains(v.Name)).ToList();
        g.Input.Clear();
        g.Input.Add(inputs);
        var weights = g.Initializer.Where(w => needed.Contains(w.Name)).ToList();
        g.Initializer.Clear();
        g.Initializer.Add(weights);
        g.ValueInfo.Clear();
        return this;
    }

    public byte[] ToBytes() => _model.ToByteArray();
}
