using TorchSharp;

namespace ConceptSuite.Embedding.Text;

/// <summary>A sentence encoder: texts → float32 [N, Dimension] embeddings.</summary>
public interface ITextEncoder
{
    string Name { get; }
    string Version { get; }
    string Source { get; }
    int Dimension { get; }
    /// <summary>Embeds the texts; the caller owns the returned CPU tensor.</summary>
    torch.Tensor Encode(IReadOnlyList<string> texts, CancellationToken ct);
}
