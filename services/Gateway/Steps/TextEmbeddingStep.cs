using System.Text.Json;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Data;
using ConceptSuite.Core.Methods;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// EmbeddingService.EmbedText over a naming vocabulary: the most frequent WordNet nouns and
/// adjectives (Debian package wordnet-base; option size), the words of the data set's class
/// names and captions when a dataset input is given (so a clothing data set can be named "sandal"
/// or "striped" even where WordNet's frequency list stops earlier; caption words are those some
/// captions say and others do not, <see cref="CaptionVocabulary"/>),
/// and any extra words (option words, comma list). With option glosses, the WordNet definition of
/// each word's most frequent sense is embedded too, for sentence-level names.
/// Stored as the vocabulary NameConcepts reads: tensor "embeddings" [V, D_txt] and metadata
/// {"words": [...], "model"}; with glosses also tensor "gloss_embeddings" [G, D_txt] and metadata
/// "glosses" [{word, gloss}] (words without a definition have none).
/// </summary>
public sealed class TextEmbeddingStep(TextEmbeddingStep.Options options) : IStepExecutor
{
    /// <summary>The step's options, parsed once against <see cref="Schema"/>.</summary>
    public sealed record Options(int Size, string Words, string Model, bool Glosses)
    {
        public static readonly IReadOnlyList<OptionSpec> Schema =
        [
            OptionSpec.Int("size", 1000, "WordNet's most frequent nouns and adjectives taken", 0, 200_000),
            OptionSpec.Text("words", "", "extra words, comma list"),
            OptionSpec.Text("model", "minilm", "the text model"),
            OptionSpec.Bool("glosses", true, "also embed each word's WordNet definition (sentence-level names)"),
        ];

        public static Options From(OptionValues o) => new(o.Int("size"), o.Text("words"), o.Text("model"), o.Bool("glosses"));
    }

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        int size = options.Size;
        var words = new List<string>();
        var pos = new Dictionary<string, char>(StringComparer.Ordinal);
        if (size > 0)
            foreach (var w in WordNetVocabulary.Read(maxWords: size).Words)
            {
                words.Add(w.Word);
                pos.TryAdd(w.Word.ToLowerInvariant(), w.Pos);
            }
        if (ctx.OptionalInput("dataset") is { } dataset)
        {
            var info = await ArtifactTransfer.InfoAsync(ctx.StoreChannel, dataset, ctx.CancellationToken);
            foreach (var c in StepMetadata.Strings(info.MetadataJson, "class_names"))
                words.AddRange(c.Split(['/', ' ', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            words.AddRange(CaptionVocabulary.Words(StepMetadata.Strings(info.MetadataJson, "captions")));
        }
        words.AddRange(OptionText.List(options.Words));
        var unique = words.Select(w => w.ToLowerInvariant()).Distinct(StringComparer.Ordinal).ToList();
        if (unique.Count == 0) throw new InvalidInputException(ctx.OptionField("size"), "the vocabulary is empty: set size > 0 or words");
        var model = options.Model;
        var glosses = new List<(string Word, string Gloss)>();
        if (options.Glosses)
        {
            var synsets = WordNetSynsets.Read();
            foreach (var w in unique)
                if (synsets.Gloss(w, pos.GetValueOrDefault(w, ' ')) is { Length: > 0 } g) glosses.Add((w, g));
        }
        var meta = JsonSerializer.Serialize(new
        {
            type = "vocabulary", model, words = unique,
            glosses = glosses.Count > 0 ? glosses.Select(g => new { word = g.Word, gloss = g.Gloss }).ToArray() : null,
        });
        var info2 = await ArtifactTransfer.PutAsync(ctx.StoreChannel, "activations", meta,
            new Dictionary<string, string> { ["producer"] = "gateway/embedding.vocabulary" },
            Concat(EmbedAsync(ctx, model, unique, "embeddings"), EmbedAsync(ctx, model, glosses.Select(g => g.Gloss).ToList(), "gloss_embeddings")),
            ctx.CancellationToken);
        return new StepResult(new Dictionary<string, ArtifactRef> { ["vocabulary"] = info2.Ref },
            new Dictionary<string, double> { ["words"] = unique.Count, ["glosses"] = glosses.Count });
    }

    static async IAsyncEnumerable<TensorBlock> Concat(IAsyncEnumerable<TensorBlock> a, IAsyncEnumerable<TensorBlock> b)
    {
        await foreach (var x in a) yield return x;
        await foreach (var x in b) yield return x;
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
