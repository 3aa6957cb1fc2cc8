namespace ConceptSuite.Embedding;

/// <summary>Options of the embedding stage (section "ConceptSuite:Embedding").</summary>
public sealed class EmbeddingOptions
{
    public const string Section = "ConceptSuite:Embedding";

    /// <summary>
    /// Directory of user models: each "&lt;name&gt;.json" describes one ONNX or TorchScript model
    /// whose files lie inside this directory. Empty: "{DataDir}/models".
    /// </summary>
    public string ModelDir { get; set; } = "";

    /// <summary>Largest batch one forward pass runs; concurrent requests are merged up to it.</summary>
    public int MaxBatch { get; set; } = 32;

    /// <summary>How long the micro-batcher waits for more requests before running a partial batch.</summary>
    public double BatchWindowMs { get; set; } = 2;

    /// <summary>Rows an EmbedImages call gathers before handing them to the batcher.</summary>
    public int ChunkRows { get; set; } = 32;

    /// <summary>ONNX Runtime intra-op threads; 0 = ONNX Runtime's default (all cores).</summary>
    public int OnnxThreads { get; set; }

    /// <summary>Largest accepted image side, pixels (decoded or tensor).</summary>
    public int MaxImageSide { get; set; } = 4096;

    /// <summary>Image models kept loaded at once (least recently used unloaded first).</summary>
    public int MaxLoadedModels { get; set; } = 8;

    /// <summary>Weight bytes of the image models kept loaded at once.</summary>
    public long MaxLoadedModelBytes { get; set; } = 4L << 30;

    /// <summary>
    /// Let requests name any value of an ONNX graph as a tap, not only the model's declared taps.
    /// Each new combination of such values builds an ONNX Runtime session (a copy of the model).
    /// </summary>
    public bool AllowUndeclaredTaps { get; set; }

    /// <summary>Sessions for undeclared tap combinations kept per ONNX model (least recently used dropped first).</summary>
    public int MaxTapSessions { get; set; } = 4;

    /// <summary>Model bytes of those sessions kept per ONNX model.</summary>
    public long MaxTapSessionBytes { get; set; } = 1L << 30;

    /// <summary>
    /// Largest model RegisterModel accepts (model file plus preprocessing model, bytes): the declared
    /// size is checked against it before anything is buffered.
    /// </summary>
    public long MaxModelBytes { get; set; } = 512L << 20;

    /// <summary>Texts one EmbedText call or one imported corpus may carry.</summary>
    public int MaxTexts { get; set; } = 200_000;

    /// <summary>Characters of one text (checked before it is tokenized).</summary>
    public int MaxTextChars { get; set; } = 8192;

    /// <summary>Tokens of one text a token model runs ([CLS] and [SEP] included); longer texts are cut, keeping [SEP].</summary>
    public int MaxTextTokens { get; set; } = 256;
}
