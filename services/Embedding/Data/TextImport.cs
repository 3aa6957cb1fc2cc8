using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Data;
using ConceptSuite.Core.Limits;

namespace ConceptSuite.Embedding.Data;

/// <summary>
/// The text form of ImportDataset: after the header only labelled texts, stored as one "texts"
/// artifact (<see cref="TextDataset"/>). Each text is checked as it arrives — not empty, at most
/// <see cref="EmbeddingOptions.MaxTextChars"/> characters, its label below the class names (when
/// given) — and the count and held bytes against their limits, so a hostile stream is refused
/// before it grows; nothing is stored unless every text passed.
/// </summary>
public static class TextImport
{
    public static async Task<ArtifactInfo> ImportAsync(ArtifactStore store, RequestBudget budget, EmbeddingOptions options,
        ImportDatasetHeader h, ImportDatasetRequest first, IAsyncEnumerator<ImportDatasetRequest> rest, CancellationToken ct)
    {
        if (h.Height != 0 || h.Width != 0 || h.Channels != 0) throw new InvalidInputException("header.height", "texts take no image size or channels");
        if (h.ConceptNames.Count > 0) throw new InvalidInputException("header.concept_names", "texts carry no concept labels");
        var texts = new List<string>();
        var labels = new List<long>();
        long held = 0;
        for (var m = first; m is not null; m = await rest.MoveNextAsync() ? rest.Current : null)
        {
            int i = texts.Count;
            if (m.PartCase != ImportDatasetRequest.PartOneofCase.Text)
                throw new InvalidInputException("part", "a stream of texts takes only texts after the header");
            if (i >= options.MaxTexts)
                throw new ResourceExhaustedException($"texts: more than {options.MaxTexts} texts in one import (ConceptSuite:Embedding:MaxTexts)");
            var t = m.Text;
            if (string.IsNullOrWhiteSpace(t.Text)) throw new InvalidInputException($"texts[{i}].text", "must not be empty");
            if (t.Text.Length > options.MaxTextChars)
                throw new InvalidInputException($"texts[{i}].text", $"has {t.Text.Length} characters; at most {options.MaxTextChars} (ConceptSuite:Embedding:MaxTextChars)");
            if (t.Label < 0) throw new InvalidInputException($"texts[{i}].label", "must be >= 0");
            if (h.ClassNames.Count > 0 && t.Label >= h.ClassNames.Count)
                throw new InvalidInputException($"texts[{i}].label", $"must be < {h.ClassNames.Count} (the number of header.class_names)");
            budget.Classes($"texts[{i}].label", t.Label);
            // A text is held as a string (2 bytes a character), then once more as UTF-8 (≤ 3 bytes a character) when stored.
            held += 5L * t.Text.Length + 16;
            budget.Bytes("texts", held);
            texts.Add(t.Text);
            labels.Add(t.Label);
        }
        if (h.Limit > 0 && texts.Count > h.Limit) { texts.RemoveRange((int)h.Limit, texts.Count - (int)h.Limit); labels.RemoveRange((int)h.Limit, labels.Count - (int)h.Limit); }
        var name = string.IsNullOrWhiteSpace(h.Name) ? "texts" : h.Name;
        return await new TextDataset(name, texts, labels.ToArray(), h.ClassNames.ToList()).SaveAsync(store, ct);
    }
}
