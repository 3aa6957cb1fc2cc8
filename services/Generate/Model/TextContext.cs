using static TorchSharp.torch;

namespace ConceptSuite.Generate.Model;

/// <summary>Text tokens as the cross-attention sees them: embeddings [B,T,D] and which to attend to [B,T].</summary>
public sealed record TextContext(Tensor Embeddings, Tensor AttendMask);
