namespace ConceptSuite.Embedding.Models;

/// <summary>A declared tap of an ONNX model: a graph value, optionally flattened per row.</summary>
public sealed record OnnxTap(string Name, string Value, bool Flatten = false);
