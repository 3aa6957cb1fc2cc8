using System.Text.Json;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Data;
using ConceptSuite.Core.Methods;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// EmbeddingService.EmbedText over a naming vocabulary: the most frequent WordNet nouns and
/// adjectives (Debian package wordnet-base; option size), the words of the data set's class
/// names when a dataset input is given (so a clothing data set can be named "sandal" even where
/// WordNet's frequency list stops earlier), and any extra words (option words, comma list).
/// Stored as the vocabulary NameConcepts reads: tensor "embeddings" [V, D_txt] and metadata
/// {"words": [...], "model"}.
/// </summary>
public sealed class TextEmbeddingStep(TextEmbeddingStep.Options options) : IStepExecutor
{
    /// <summary>The step's options, parsed once against <see cref="Schema"/>.</summary>
    public sealed record Options(int Size, string Words, string Model)
    {
        public static readonly IReadOnlyList<OptionSpec> Schema =
        [
            OptionSpec.Int("size", 1000, "WordNet's most frequent nouns and adjectives taken", 0, 200_000),
            OptionSpec.Text("words", "", "extra words, comma list"),
            OptionSpec.Text("model", "minilm", "the text model"),
        ];

        public static Options From(OptionValues o) => new(o.Int("size"), o.Text("words"), o.Text("model"));
    }

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        int size = options.Size;
        var words = new List<string>();
        if (size > 0) words.AddRange(WordNetVocabulary.Read(maxWords: size).Words.Select(w => w.Word));
        if (ctx.OptionalInput("dataset") is { } dataset)
        {
            var info = await ArtifactTransfer.InfoAsync(ctx.StoreChannel, dataset, ctx.CancellationToken);
            foreach (var c in StepMetadata.Strings(info.MetadataJson, "class_names"))
                words.AddRange(c.Split(['/', ' ', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        }
        words.AddRange(OptionText.List(options.Words));
        var unique = words.Select(w => w.ToLowerInvariant()).Distinct(StringComparer.Ordinal).ToList();
        if (unique.Count == 0) throw new InvalidInputException(ctx.OptionField("size"), "the vocabulary is empty: set size > 0 or words");
        var model = options.Model;
        var meta = JsonSerializer.Serialize(new { type = "vocabulary", model, words = unique });
        var info2 = await ArtifactTransfer.PutAsync(ctx.StoreChannel, "activations", meta,
            new Dictionary<string, string> { ["producer"] = "gateway/embedding.vocabulary" },
            EmbedAsync(ctx, model, unique, "embeddings"), ctx.CancellationToken);
        return new StepResult(new Dictionary<string, ArtifactRef> { ["vocabulary"] = info2.Ref },
            new Dictionary<string, double> { ["words"] = unique.Count });
    }

    /// <summary>
    /// Text embeddings as one row-block stream named <paramref name="name"/> with the texts' row
    /// offsets, embedded in requests of <paramref name="chunk"/> texts (progress after each).
    /// </summary>
    public static async IAsyncEnumerable<TensorBlock> EmbedAsync(StepContext ctx, string model, IReadOnlyList<string> texts, string name,
        int chunk = 512)
    {
        var client = new EmbeddingService.EmbeddingServiceClient(ctx.Channel);
        for (int start = 0; start < texts.Count; start += chunk)
        {
            var request = new EmbedTextRequest { Model = model };
            request.Texts.AddRange(texts.Skip(start).Take(chunk));
            using var call = client.EmbedText(request, cancellationToken: ctx.CancellationToken);
            while (await call.ResponseStream.MoveNext(ctx.CancellationToken))
            {
                var b = call.ResponseStream.Current;
                b.Name = name;
                b.RowOffset += start;
                b.TotalShape.Clear();
                yield return b;
            }
            ctx.Progress(Math.Min(start + chunk, texts.Count), texts.Count, "texts", "embed");
        }
    }
}
