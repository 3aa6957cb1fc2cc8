using System.Runtime.InteropServices;
using System.Text.Json;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Data;
using ConceptSuite.Core.Methods;
using Grpc.Core;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// What a sparse autoencoder learned on a language model's token activations, measured as SAE
/// users compare it (Bricken et al. 2023, "Towards Monosemanticity"; SAELens): the token rows of
/// an embedding.tokens artifact are encoded by the dictionary (DiscoveryService.Encode) and
/// decoded back (Decode), giving
/// <list type="bullet">
/// <item>explained variance 1 − Σ‖x − x̂‖² / Σ‖x − x̄‖² over every token, L0 (active latents per token),
/// dead latents (never active on the scanned tokens) and dense ones (active on more than
/// <c>dense</c> of them), and the firing-density histogram (log10 of each live latent's firing rate);</item>
/// <item>the downstream score, the analogue of loss recovered: for the first <c>splice_texts</c>
/// texts, the token model's sentence embedding with the tap's activations replaced by the
/// reconstruction (EmbedText with token_tap and replacement: the remaining blocks run from it),
/// its cosine with the original; beside it the same with every token replaced by the mean
/// activation (mean ablation) and with the activations themselves (identity, ≈ 1: the splice is
/// exact), and recovered = (cos_sae − cos_ablation) / (1 − cos_ablation);</item>
/// <item>per latent its top-activating tokens in their text (every token's activation of the latent
/// kept for highlighting) and a proposed name: the most frequent WordNet base form
/// (<see cref="WordNetMorphology"/>) of the whole words its top tokens belong to, with its share
/// (purity) and the runners-up.</item>
/// </list>
/// Stored as a "report" artifact, metadata {"type": "text-features", metrics, "features": cards
/// of <c>cards</c> live latents — those named by a word first, then [CLS], [SEP] and punctuation
/// latents, each group by purity × log(tokens / tokens bearing the name), then firing}, tensors
/// "firing" int64 [C] and "density" int64 [bins].
/// </summary>
public sealed class TextFeaturesStep(TextFeaturesStep.Options options) : IStepExecutor
{
    /// <summary>The step's options, parsed once against <see cref="Schema"/>.</summary>
    public sealed record Options(int K, int NameTokens, int Cards, int Context, int SpliceTexts, double Dense, long MaxRows)
    {
        public static readonly IReadOnlyList<OptionSpec> Schema =
        [
            OptionSpec.Int("k", 6, "top-activating tokens shown per latent", 1, 64),
            OptionSpec.Int("name_tokens", 20, "top-activating tokens a name is proposed from", 1, 1000),
            OptionSpec.Int("cards", 64, "latents kept as cards for the atlas", 1, 100_000),
            OptionSpec.Int("context", 12, "tokens of context kept each side of a top token", 1, 512),
            OptionSpec.Int("splice_texts", 256, "texts the downstream (splice) score runs on (0: none)", 0, 100_000),
            OptionSpec.Float("dense", 0.1, "a latent active on more than this share of tokens is dense", 0, 1),
            OptionSpec.Int("max_rows", 2_000_000, "token rows this step may read (activations, codes and reconstruction are held at once)", 1),
        ];

        public static Options From(OptionValues o) =>
            new(o.Int("k"), o.Int("name_tokens"), o.Int("cards"), o.Int("context"), o.Int("splice_texts"), o.Float("dense"), o.Long("max_rows"));
    }

    /// <summary>Bins of the firing-density histogram: log10 firing rate from −7 to 0.</summary>
    const double DensityMin = -7, DensityBin = 0.25;

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var ct = ctx.CancellationToken;
        var tokensId = ctx.Input("tokens");
        var dictionary = ctx.Input("dictionary");
        var (tokInfo, m) = await ArtifactTransfer.SourceAsync(ctx.StoreChannel, tokensId, "activations", $"steps.{ctx.Step}.inputs.tokens", ct);
        if (m > options.MaxRows)
            throw new InvalidInputException($"steps.{ctx.Step}.inputs.tokens", $"has {m} token rows; this step reads at most {options.MaxRows} (option max_rows)");
        var (_, tok) = await ArtifactTransfer.ReadSmallAsync(ctx.StoreChannel, tokensId, ["activations", "text_rows", "positions"], ct);
        var tokens = StepMetadata.Strings(tokInfo.MetadataJson, "tokens");
        if (tokens.Count != m || !tok.ContainsKey("text_rows"))
            throw new InvalidInputException($"steps.{ctx.Step}.inputs.tokens", "is not an embedding.tokens artifact (tokens, text_rows, positions)");
        using var meta = JsonDocument.Parse(tokInfo.MetadataJson);
        string tap = meta.RootElement.GetProperty("tap").GetString() ?? "", model = meta.RootElement.GetProperty("model").GetString() ?? "";
        int d = (int)tok["activations"].Shape[1];
        var x = tok["activations"].ToFloats();
        var textRows = tok["text_rows"].Span<long>().ToArray();

        ctx.Progress(0, 3, "passes", "encode");
        var codes = await TransformAsync(ctx, dictionary, x, m, d, encode: true);
        int c = (int)(codes.Length / Math.Max(1, m));
        ctx.Progress(1, 3, "passes", "decode");
        var recon = await TransformAsync(ctx, dictionary, codes, m, c, encode: false);

        // Explained variance (the conventional form) and L0.
        var mean = new double[d];
        for (long i = 0; i < m; i++) for (int j = 0; j < d; j++) mean[j] += x[i * d + j];
        for (int j = 0; j < d; j++) mean[j] /= m;
        double residual = 0, total = 0;
        for (long i = 0; i < m; i++)
            for (int j = 0; j < d; j++)
            {
                double v = x[i * d + j], e = v - recon[i * d + j], t = v - mean[j];
                residual += e * e; total += t * t;
            }
        var firing = new long[c];
        long active = 0;
        var top = Enumerable.Range(0, c).Select(_ => new PriorityQueue<long, float>()).ToArray();
        int keep = Math.Max(options.K, options.NameTokens);
        for (long i = 0; i < m; i++)
            for (int j = 0; j < c; j++)
            {
                float v = codes[i * c + j];
                if (v <= 0) continue;
                firing[j]++; active++;
                var q = top[j];
                if (q.Count < keep) q.Enqueue(i, v);
                else if (q.TryPeek(out _, out var least) && v > least) q.EnqueueDequeue(i, v);
            }
        double ev = total > 0 ? 1 - residual / total : double.NaN;
        double l0 = m > 0 ? active / (double)m : 0;
        double dead = firing.Count(f => f == 0) / (double)c;
        double dense = firing.Count(f => f > options.Dense * m) / (double)c;
        var density = new long[(int)(-DensityMin / DensityBin)];
        foreach (var f in firing.Where(f => f > 0))
            density[Math.Clamp((int)Math.Floor((Math.Log10(f / (double)m) - DensityMin) / DensityBin), 0, density.Length - 1)]++;

        // Names and cards.
        var morphology = WordNetMorphology.Read();
        var textStart = new Dictionary<long, long>();
        var textEnd = new Dictionary<long, long>();
        for (long i = 0; i < m; i++) { textStart.TryAdd(textRows[i], i); textEnd[textRows[i]] = i + 1; }
        var features = new List<Feature>();
        for (int j = 0; j < c; j++)
        {
            if (firing[j] == 0) continue;
            var best = new List<(long Row, float Value)>();
            while (top[j].TryDequeue(out var row, out var v)) best.Add((row, v));
            best.Reverse();
            var lemmas = best.Take(options.NameTokens).Select(b => NameOf(Word(tokens, textRows, b.Row), morphology)).ToList();
            var counts = lemmas.GroupBy(l => l, StringComparer.Ordinal).Select(g => (Word: g.Key, Share: g.Count() / (double)lemmas.Count))
                .OrderByDescending(g => g.Share).ThenBy(g => g.Word, StringComparer.Ordinal).ToList();
            var examples = best.Take(options.K).Select(b =>
            {
                long s = Math.Max(textStart[textRows[b.Row]], b.Row - options.Context), e = Math.Min(textEnd[textRows[b.Row]], b.Row + options.Context + 1);
                return new Example(textRows[b.Row], b.Row - textStart[textRows[b.Row]], b.Value, s > textStart[textRows[b.Row]], e < textEnd[textRows[b.Row]],
                    Enumerable.Range(0, (int)(e - s)).Select(t => tokens[(int)(s + t)]).ToList(),
                    Enumerable.Range(0, (int)(e - s)).Select(t => codes[(s + t) * c + j]).ToList(), (int)(b.Row - s));
            }).ToList();
            features.Add(new Feature(j, counts[0].Word, counts[0].Share, counts.Skip(1).Take(3).Select(a => new Alternative(a.Word, a.Share)).ToList(),
                firing[j], firing[j] / (double)m, examples));
        }
        // Cards: latents named by a word first ([CLS], [SEP] and punctuation latents after them), each group by how coherent and how
        // specific the name is: purity × log(tokens / tokens of that name) — a latent of "of" or "the" is coherent but says little.
        var nameCounts = new Dictionary<string, long>(StringComparer.Ordinal);
        for (long i = 0; i < m; i++) { var n = NameOf(Word(tokens, textRows, i), morphology); nameCounts[n] = nameCounts.GetValueOrDefault(n) + 1; }
        double Specific(Feature f) => f.Purity * Math.Log(m / (1.0 + nameCounts.GetValueOrDefault(f.Name)));
        var cards = features.OrderByDescending(f => IsWord(f.Name)).ThenByDescending(Specific).ThenByDescending(f => f.Firing).ThenBy(f => f.Concept)
            .Take(options.Cards).ToList();

        // The downstream score: splice the reconstruction into the token model.
        ctx.Progress(2, 3, "passes", "splice");
        var splice = await SpliceAsync(ctx, model, tap, tokInfo, x, recon, mean, textRows, d);

        var metrics = new Dictionary<string, double>
        {
            ["tokens"] = m, ["latents"] = c, ["explained_variance"] = ev, ["l0"] = l0, ["dead_fraction"] = dead, ["dense_fraction"] = dense,
            ["live_latents"] = features.Count, ["distinct_names"] = features.Select(f => f.Name).Distinct(StringComparer.Ordinal).Count(),
            ["name_purity_mean"] = features.Count > 0 ? features.Average(f => f.Purity) : 0,
        };
        foreach (var (k, v) in splice) metrics[k] = v;
        var reportMeta = JsonSerializer.Serialize(new
        {
            type = "text-features", dictionary, tokens = tokensId, texts = meta.RootElement.TryGetProperty("texts", out var tx) ? tx.GetString() : "",
            model, tap, metrics, dense_threshold = options.Dense, density_min_log10 = DensityMin, density_bin_log10 = DensityBin, features = cards,
        }, Json);
        var blocks = new HostTensor(DType.Int64, [c], MemoryMarshal.AsBytes(firing.AsSpan()).ToArray(), []).ToBlocks("firing", ctx.BlockBytes)
            .Concat(new HostTensor(DType.Int64, [density.Length], MemoryMarshal.AsBytes(density.AsSpan()).ToArray(), []).ToBlocks("density", ctx.BlockBytes));
        var stored = await ArtifactTransfer.PutAsync(ctx.StoreChannel, "report", reportMeta,
            new Dictionary<string, string> { ["producer"] = "gateway/text.features" }, ArtifactTransfer.AsAsync(blocks, ct), ct);
        ctx.Progress(3, 3, "passes", "done");
        return new StepResult(new Dictionary<string, ArtifactRef> { ["features"] = stored.Ref }, metrics);
    }

    static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>One top-activating token in its text: the tokens around it, each one's activation of the latent.</summary>
    public sealed record Example(long Text, long Position, float Value, bool CutBefore, bool CutAfter, IReadOnlyList<string> Tokens,
        IReadOnlyList<float> Activations, int Highlight);

    public sealed record Alternative(string Word, double Share);

    /// <summary>A live latent: its proposed name, the name's share of its top tokens, runners-up, firing, examples.</summary>
    public sealed record Feature(int Concept, string Name, double Purity, IReadOnlyList<Alternative> Alternatives, long Firing, double Rate,
        IReadOnlyList<Example> Examples);

    /// <summary>The whole word the WordPiece token at <paramref name="row"/> belongs to ("##" continuations joined).</summary>
    static string Word(IReadOnlyList<string> tokens, long[] textRows, long row)
    {
        long s = row, e = row;
        while (s > 0 && textRows[s - 1] == textRows[row] && tokens[(int)s].StartsWith("##", StringComparison.Ordinal)) s--;
        while (e + 1 < tokens.Count && textRows[e + 1] == textRows[row] && tokens[(int)(e + 1)].StartsWith("##", StringComparison.Ordinal)) e++;
        return string.Concat(Enumerable.Range((int)s, (int)(e - s + 1)).Select(i => tokens[i].StartsWith("##", StringComparison.Ordinal) ? tokens[i][2..] : tokens[i]));
    }

    static bool IsWord(string s) => s.Length > 1 && s.All(char.IsLetter);

    /// <summary>A word's name: its WordNet base form when it is a word, else the token as it is ([CLS], punctuation, digits).</summary>
    static string NameOf(string word, WordNetMorphology morphology) => IsWord(word) ? morphology.Lemma(word) : word;

    /// <summary>Rows [n, width] through the dictionary's Encode (or Decode), streamed both ways at once.</summary>
    static async Task<float[]> TransformAsync(StepContext ctx, string dictionary, float[] rows, long n, int width, bool encode)
    {
        var ct = ctx.CancellationToken;
        var client = new DiscoveryService.DiscoveryServiceClient(ctx.Channel);
        var dref = new DictionaryRef { Artifact = new ArtifactRef { Id = dictionary, Kind = "dictionary" } };
        var input = HostTensor.FromFloats(rows, n, width).ToBlocks("activations", ctx.BlockBytes);
        var output = new List<float[]>();
        if (encode)
        {
            using var call = client.Encode(cancellationToken: ct);
            await call.RequestStream.WriteAsync(new EncodeRequest { Config = new EncodeConfig { Dictionary = dref } }, ct);
            var send = Task.Run(() => ArtifactTransfer.WriteAsync(call.RequestStream, ArtifactTransfer.AsAsync(input, ct), b => new EncodeRequest { Block = b }, ct, complete: true), ct);
            while (await call.ResponseStream.MoveNext(ct)) output.Add(MemoryMarshal.Cast<byte, float>(call.ResponseStream.Current.Tensor.Data.Span).ToArray());
            await send;
        }
        else
        {
            using var call = client.Decode(cancellationToken: ct);
            await call.RequestStream.WriteAsync(new DecodeRequest { Config = new DecodeConfig { Dictionary = dref } }, ct);
            var send = Task.Run(() => ArtifactTransfer.WriteAsync(call.RequestStream, ArtifactTransfer.AsAsync(input, ct), b => new DecodeRequest { Block = b }, ct, complete: true), ct);
            while (await call.ResponseStream.MoveNext(ct)) output.Add(MemoryMarshal.Cast<byte, float>(call.ResponseStream.Current.Tensor.Data.Span).ToArray());
            await send;
        }
        var all = new float[output.Sum(o => (long)o.Length)];
        int at = 0;
        foreach (var o in output) { o.CopyTo(all, at); at += o.Length; }
        return all;
    }

    /// <summary>
    /// Sentence embeddings of the first texts: original, and from the tap replaced by the
    /// activations themselves, the reconstruction and the mean activation; mean cosines with the original.
    /// </summary>
    async Task<Dictionary<string, double>> SpliceAsync(StepContext ctx, string model, string tap, ArtifactInfo tokInfo, float[] x, float[] recon,
        double[] mean, long[] textRows, int d)
    {
        var result = new Dictionary<string, double>();
        if (options.SpliceTexts == 0) return result;
        using var meta = JsonDocument.Parse(tokInfo.MetadataJson);
        var textsId = meta.RootElement.GetProperty("texts").GetString() ?? "";
        var (texts, _, _) = await TokenEmbeddingStep.ReadTextsAsync(ctx, textsId, $"steps.{ctx.Step}.inputs.tokens");
        int s = Math.Min(options.SpliceTexts, texts.Count);
        const int chunk = 64;
        double sae = 0, ablation = 0, identity = 0;
        long row = 0;
        var meanRow = mean.Select(v => (float)v).ToArray();
        for (int start = 0; start < s; start += chunk)
        {
            var batch = texts.Skip(start).Take(Math.Min(chunk, s - start)).ToList();
            long first = row;
            while (row < textRows.Length && textRows[row] < start + batch.Count) row++;
            int rows = (int)(row - first);
            var original = await SentencesAsync(ctx, model, batch, null, null, 0, 0, d);
            var fromX = await SentencesAsync(ctx, model, batch, tap, x, first, rows, d);
            var fromRecon = await SentencesAsync(ctx, model, batch, tap, recon, first, rows, d);
            var meanRows = new float[rows * d];
            for (int i = 0; i < rows; i++) meanRow.CopyTo(meanRows, i * d);
            var fromMean = await SentencesAsync(ctx, model, batch, tap, meanRows, 0, rows, d);
            for (int i = 0; i < batch.Count; i++)
            {
                identity += Dot(original, fromX, i, d);
                sae += Dot(original, fromRecon, i, d);
                ablation += Dot(original, fromMean, i, d);
            }
        }
        result["splice_texts"] = s;
        result["cosine_identity"] = identity / s;
        result["cosine_sae"] = sae / s;
        result["cosine_mean_ablation"] = ablation / s;
        result["cosine_recovered"] = (result["cosine_sae"] - result["cosine_mean_ablation"]) / Math.Max(1e-12, 1 - result["cosine_mean_ablation"]);
        return result;
    }

    static double Dot(float[] a, float[] b, int i, int d)
    {
        double s = 0;
        for (int j = 0; j < d; j++) s += a[i * d + j] * (double)b[i * d + j];
        return s;
    }

    /// <summary>
    /// Sentence embeddings [n, d] of <paramref name="texts"/>; with a tap, computed from
    /// <paramref name="rows"/> rows of <paramref name="source"/> (row-major, width d) starting at
    /// row <paramref name="first"/>, given as that tap's activations.
    /// </summary>
    static async Task<float[]> SentencesAsync(StepContext ctx, string model, List<string> texts, string? tap, float[]? source, long first, int rows, int d)
    {
        var request = new EmbedTextRequest { Model = model };
        request.Texts.AddRange(texts);
        if (tap is not null && source is not null)
        {
            request.TokenTap = tap;
            var values = source.AsSpan((int)(first * d), rows * d).ToArray();
            request.Replacement = HostTensor.FromFloats(values, rows, d).ToBlocks("replacement", int.MaxValue).Single();
        }
        var r = await TokenEmbeddingStep.TokensAsync(ctx, request);
        return r["sentence"].ToFloats();
    }
}
