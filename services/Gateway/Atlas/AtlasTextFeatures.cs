using System.Text.Json;
using ConceptSuite.Client;
using ConceptSuite.Contracts;

namespace ConceptSuite.Gateway.Atlas;

/// <summary>
/// The atlas of a text-features report (<see cref="Steps.TextFeaturesStep"/>): the dictionary's
/// headline numbers (explained variance, L0, dead and dense latents, the splice cosine), the
/// latents' firing-density histogram, and one card per latent — its proposed name with the name's
/// share of its top tokens, the runners-up, how often it fires, and its top tokens in context
/// highlighted by activation.
/// </summary>
public static class AtlasTextFeatures
{
    static readonly (string Metric, string Label, string Note)[] Headline =
    [
        ("explained_variance", "explained variance", "1 − Σ‖x − x̂‖² / Σ‖x − x̄‖² over every scanned token"),
        ("l0", "L0", "latents active per token"),
        ("dead_fraction", "dead latents", "share of latents never active on the scanned tokens"),
        ("dense_fraction", "dense latents", "share of latents active on more than the dense threshold of tokens"),
        ("cosine_sae", "sentence cosine (SAE spliced)", "cosine of the sentence embedding with the tap replaced by the reconstruction, to the original"),
        ("cosine_mean_ablation", "sentence cosine (mean ablation)", "the same with every token replaced by the mean activation"),
        ("cosine_recovered", "cosine recovered", "(SAE − ablation) / (1 − ablation): the analogue of loss recovered"),
        ("distinct_names", "distinct names", "different proposed names among the live latents"),
    ];

    public static AtlasModel Apply(AtlasModel model, ArtifactInfo info, IReadOnlyDictionary<string, HostTensor> tensors)
    {
        using var doc = JsonDocument.Parse(info.MetadataJson);
        var root = doc.RootElement;
        var metrics = root.GetProperty("metrics").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble());
        double dMin = root.GetProperty("density_min_log10").GetDouble(), dBin = root.GetProperty("density_bin_log10").GetDouble();
        var bins = tensors.TryGetValue("density", out var dt) ? dt.Span<long>().ToArray() : [];
        int first = Array.FindIndex(bins, v => v > 0), last = Array.FindLastIndex(bins, v => v > 0);
        var density = first < 0 ? [] : Enumerable.Range(first, last - first + 1).Select(j => (dMin + j * dBin, bins[j])).ToList();
        var concepts = new List<AtlasConcept>();
        foreach (var f in root.GetProperty("features").EnumerateArray())
        {
            int id = f.GetProperty("concept").GetInt32();
            string name = f.GetProperty("name").GetString() ?? "";
            var texts = f.GetProperty("examples").EnumerateArray().Select(e => new AtlasText(
                e.GetProperty("tokens").EnumerateArray().Select(t => t.GetString() ?? "").ToList(),
                e.GetProperty("activations").EnumerateArray().Select(a => a.GetDouble()).ToList(),
                e.GetProperty("highlight").GetInt32(), e.GetProperty("value").GetDouble(),
                e.GetProperty("cut_before").GetBoolean(), e.GetProperty("cut_after").GetBoolean())).ToList();
            concepts.Add(new AtlasConcept($"{name} (latent {id})", f.GetProperty("purity").GetDouble(), "share of top tokens", [], [], [])
            {
                Alternatives = f.GetProperty("alternatives").EnumerateArray()
                    .Select(a => (a.GetProperty("word").GetString() ?? "", a.GetProperty("share").GetDouble())).ToList(),
                Prevalence = f.GetProperty("rate").GetDouble(),
                TopTexts = texts,
            });
        }
        string tap = root.GetProperty("tap").GetString() ?? "", tm = root.GetProperty("model").GetString() ?? "";
        string textsId = root.TryGetProperty("texts", out var t2) ? t2.GetString() ?? "" : "";
        return model with
        {
            Concepts = concepts,
            FiringDensity = density,
            FiringBinLog10 = dBin,
            KeyNumbers = Headline.Where(h => metrics.ContainsKey(h.Metric)).Select(h => (h.Label, metrics[h.Metric], h.Note)).ToList(),
            Data = $"{metrics.GetValueOrDefault("tokens"):0} tokens of text corpus {(textsId.Length >= 12 ? textsId[..12] : textsId)}, {tm} residual stream at {tap}; "
                + $"{metrics.GetValueOrDefault("latents"):0} latents, {metrics.GetValueOrDefault("live_latents"):0} live",
            ConceptSource = $"{concepts.Count} latents of dictionary {(root.GetProperty("dictionary").GetString() ?? "")[..12]} on token activations: those named by a word "
                + "first, then those of [CLS], [SEP] and punctuation, each group by share of the top tokens whose word has the proposed name × how rare that "
                + "name is among all tokens (log of tokens / tokens bearing it); each named by the most frequent WordNet base form of its top tokens' words; the texts show each top token (outlined) "
                + "in its text, every token shaded by its activation of the latent",
        };
    }
}
