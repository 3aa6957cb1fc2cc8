namespace ConceptSuite.Embedding.Models;

/// <summary>How to normalise 0-255 pixels before an ONNX model: x * scale, then (x - mean[c]) / std[c].</summary>
public sealed record PixelNormalization(float Scale, float[] Mean, float[] Std);
