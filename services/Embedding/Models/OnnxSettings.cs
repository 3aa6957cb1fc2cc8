namespace ConceptSuite.Embedding.Models;

/// <summary>
/// How ONNX models run: ONNX Runtime threads, whether requests may name undeclared graph values
/// as taps, and the bound on the extra sessions those build (per model).
/// </summary>
public sealed record OnnxSettings(int Threads = 0, bool AllowUndeclaredTaps = false, int MaxTapSessions = 4, long MaxTapSessionBytes = 1L << 30)
{
    public static OnnxSettings From(EmbeddingOptions o) => new(o.OnnxThreads, o.AllowUndeclaredTaps, o.MaxTapSessions, o.MaxTapSessionBytes);
}
