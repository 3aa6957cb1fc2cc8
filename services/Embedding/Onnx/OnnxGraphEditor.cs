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

    public byte[] ToBytes() => _model.ToByteArray();
}
