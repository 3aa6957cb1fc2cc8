using ConceptSuite.Contracts;
using ConceptSuite.Core.Streaming;
using ConceptSuite.Core.Tensors;
using TorchSharp;

namespace ConceptSuite.Embedding.Text;

/// <summary>
/// The token-level forms of EmbedText on <see cref="MiniLmTokenModel"/>, in chunks of texts:
/// the residual stream at a tap as one row per real token ("tokens" [M, D] with the WordPiece
/// strings as ids, "text_rows" and "positions" int64 [M]); or, given replacement rows for that
/// tap, the sentence embeddings the remaining blocks compute from them ("sentence" [N, D]).
/// </summary>
public static class TextTokens
{
    /// <summary>Texts one forward pass takes (padded to the longest of them).</summary>
    public const int Chunk = 64;

    public static IReadOnlyList<NamedTensor> Run(MiniLmTokenModel model, IReadOnlyList<string> texts, string tap, TensorBlock? replacement,
        CancellationToken ct) => TensorScope.KeepAll(() => Compute(model, texts, tap, replacement, ct));

    static IEnumerable<NamedTensor> Compute(MiniLmTokenModel model, IReadOnlyList<string> texts, string tap, TensorBlock? replacement, CancellationToken ct)
    {
        using var inference = torch.inference_mode();
        var batches = new List<MiniLmTokenModel.Batch>();
        for (int s = 0; s < texts.Count; s += Chunk) batches.Add(model.Tokenize(texts.Skip(s).Take(Chunk).ToList()));
        long m = batches.Sum(b => (long)b.TokenCount);
        if (replacement is not null)
        {
            var rows = Replacement(replacement, m);
            var sentences = new List<torch.Tensor>();
            long at = 0;
            foreach (var b in batches)
            {
                ct.ThrowIfCancellationRequested();
                var stream = MiniLmTokenModel.Scatter(rows.narrow(0, at, b.TokenCount), b);
                sentences.Add(MiniLmTokenModel.Pool(model.FromTap(b, tap, stream, ct), b));
                at += b.TokenCount;
            }
            return [new NamedTensor("sentence", torch.cat(sentences, 0))];
        }
        var parts = new List<torch.Tensor>();
        var tokens = new List<string>((int)m);
        var textRows = new long[m];
        var positions = new long[m];
        int row = 0, text = 0;
        foreach (var b in batches)
        {
            ct.ThrowIfCancellationRequested();
            parts.Add(MiniLmTokenModel.RealTokens(model.Forward(b, tap, ct), b));
            foreach (var t in b.Tokens)
            {
                for (int j = 0; j < t.Length; j++) { textRows[row] = text; positions[row] = j; tokens.Add(t[j]); row++; }
                text++;
            }
        }
        return [new NamedTensor("tokens", torch.cat(parts, 0), tokens), new NamedTensor("text_rows", torch.tensor(textRows)),
            new NamedTensor("positions", torch.tensor(positions))];
    }

    /// <summary>The replacement rows, checked: float32 [M, D], finite, one row per real token of the texts.</summary>
    static torch.Tensor Replacement(TensorBlock block, long tokens)
    {
        var w = block.Tensor ?? throw new InvalidInputException("replacement.tensor", "is required");
        if (w.Dtype != DType.Float32) throw new InvalidInputException("replacement.tensor.dtype", $"must be float32, got {w.Dtype}");
        if (w.Shape.Count != 2 || w.Shape[1] != MiniLmTokenModel.Dimension)
            throw new InvalidInputException("replacement.tensor.shape", $"must be [M, {MiniLmTokenModel.Dimension}], got [{string.Join(", ", w.Shape)}]");
        if (w.Shape[0] != tokens)
            throw new InvalidInputException("replacement.tensor.shape", $"has {w.Shape[0]} rows; the texts have {tokens} tokens (token mode's rows, in order)");
        var t = TensorCodec.ToTorch(w, "replacement.tensor");
        if (!t.isfinite().all().item<bool>()) throw new InvalidInputException("replacement.tensor", "NaN and Inf are not allowed");
        return t;
    }
}
