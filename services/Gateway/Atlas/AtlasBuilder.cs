using Grpc.Core;
using System.Text.Json;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Gateway.Steps;
using Grpc.Net.Client;

namespace ConceptSuite.Gateway.Atlas;

/// <summary>
/// Assembles a workflow's atlas from its state and its artifacts, read from the store: the steps
/// and their metrics, the accuracy of every model a step reports (metrics named *accuracy*), a sparse probe's sparsity–accuracy path, fidelity curves,
/// sample images per class of the workflow's last data set, and the concepts — discovered ones
/// with their names and similarity, top-activating images and importance per class; or, for a
/// data set with ground-truth concept labels and masks, each concept's prevalence, its images,
/// its masks as heatmaps and P(concept | class).
/// </summary>
public static class AtlasBuilder
{
    /// <summary>The atlas of <paramref name="w"/>, its artifacts read from the store behind <paramref name="store"/>.</summary>
    public static async Task<AtlasModel> BuildAsync(CallInvoker store, WorkflowInfo w, CancellationToken ct = default)
    {
        var steps = w.Steps.Select(s => new AtlasStep(s.Name, $"{s.Stage}/{s.Method}", s.State.ToString().Replace("WORKFLOW_STATE_", "").ToLowerInvariant(),
            s.Reused, s.Metrics.ToDictionary(kv => kv.Key, kv => kv.Value), s.Error)).ToList();
        // The accuracy table: every model a step trained or scored (a path's points are the plot's, not rows).
        static bool Shown(string k) => (k.Contains("accuracy", StringComparison.Ordinal) && !k.StartsWith("path_", StringComparison.Ordinal))
            || k is "l0" or "r2" or "active_concepts" or "concepts_per_class_max";
        var models = w.Steps.Where(s => s.Metrics.Keys.Any(k => Shown(k) && k.Contains("accuracy", StringComparison.Ordinal)))
            .Select(s => new AtlasModelScore(s.Name, s.Metrics.Where(kv => Shown(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value))).ToList();
        // The sparse probe's regularization path: (concepts per class, held-out accuracy) at each λ.
        var path = w.Steps.Where(s => s.Metrics.ContainsKey("path_00_accuracy")).Take(1).SelectMany(s =>
            Enumerable.Range(0, 1000).TakeWhile(i => s.Metrics.ContainsKey($"path_{i:D2}_accuracy"))
                .Select(i => (s.Metrics[$"path_{i:D2}_concepts_per_class"], s.Metrics[$"path_{i:D2}_accuracy"]))).ToList();

        var outputs = w.Steps.Where(s => s.State == WorkflowState.Succeeded).SelectMany(s => s.Outputs.Values).ToList();
        var datasetId = outputs.LastOrDefault(r => r.Kind == "dataset")?.Id;
        (ArtifactInfo Info, Dictionary<string, HostTensor> Tensors)? examples = null, importance = null, textFeatures = null, maps = null, trust = null;
        var fidelity = new Dictionary<string, IReadOnlyList<(double, double)>>();
        foreach (var r in outputs.Where(r => r.Kind == "report").DistinctBy(r => r.Id))
        {
            var e = await ArtifactTransfer.ReadSmallAsync(store, r.Id, null, ct);
            using var doc = JsonDocument.Parse(e.Info.MetadataJson);
            switch (doc.RootElement.TryGetProperty("type", out var t) ? t.GetString() : null)
            {
                case "top-examples":
                    examples = e;
                    if (doc.RootElement.TryGetProperty("dataset", out var d) && d.GetString() is { Length: 64 } ds) datasetId = ds;
                    break;
                case "class-importance":
                    importance = e;
                    break;
                case "text-features":
                    textFeatures = e;
                    break;
                case "attribution-maps":
                    maps = e;
                    break;
                case "concept-trust":
                    trust = e;
                    break;
                case "fidelity":
                    foreach (var curve in new[] { "deletion", "insertion" })
                        if (e.Tensors.TryGetValue(curve + "_curve", out var ys) && ys.Rows > 1)
                        {
                            var y = ys.ToFloats();
                            fidelity[curve] = y.Select((v, i) => (i / (double)(y.Length - 1), (double)v)).ToList();
                        }
                    break;
            }
        }
        // Concept names (the naming step's artifact): word and cosine similarity per dictionary atom.
        List<string> conceptNames = [];
        List<double> similarity = [];
        if (outputs.LastOrDefault(r => r.Kind == "concept-names") is { } namesRef)
        {
            var (info, _) = await ArtifactTransfer.ReadSmallAsync(store, namesRef.Id, ["similarity"], ct);
            conceptNames = StepMetadata.Strings(info.MetadataJson, "names");
            similarity = StepMetadata.Numbers(info.MetadataJson, "similarity");
        }
        List<List<(string, double)>> alternatives = [];
        List<(string, string, double)?> glosses = [];
        if (outputs.LastOrDefault(r => r.Kind == "concept-names") is { } altRef)
        {
            var namesMeta = (await ArtifactTransfer.InfoAsync(store, altRef.Id, ct)).MetadataJson;
            alternatives = Alternatives(namesMeta);
            glosses = Glosses(namesMeta);
        }
        var model = new AtlasModel
        {
            Title = w.Name, WorkflowId = w.Id, Steps = steps, Models = models, SparsityPath = path, FidelityCurves = fidelity,
            KeyNumbers = [.. KeyNumbers(w, models), .. TrustNumbers(w, trust?.Info.MetadataJson)],
        };
        if (textFeatures is { } tf) return AtlasTextFeatures.Apply(model, tf.Info, tf.Tensors);
        if (datasetId is null) return model;

        var data = await ArtifactTransfer.ReadSmallAsync(store, datasetId, null, ct);
        var images = data.Tensors["images"];
        var labels = data.Tensors["labels"].Span<long>().ToArray();
        int c = (int)images.Shape[1], hgt = (int)images.Shape[2], wid = (int)images.Shape[3], per = c * hgt * wid;
        byte[] Png(long i) => AtlasImages.Png(images.Data.AsSpan((int)(i * per), per), c, hgt, wid, hgt <= 32 ? 4 : 2);
        var classes = StepMetadata.Strings(data.Info.MetadataJson, "class_names");
        var samples = new List<(string, IReadOnlyList<byte[]>)>();
        for (int k = 0; k < classes.Count; k++)
        {
            var idx = Enumerable.Range(0, labels.Length).Where(i => labels[i] == k).Take(8).ToList();
            if (idx.Count > 0) samples.Add((classes[k], idx.Select(i => Png(i)).ToList()));
        }
        model = model with
        {
            Samples = samples, ClassNames = classes,
            Data = $"{labels.Length} images ({c}×{hgt}×{wid}) of data set {datasetId[..12]}; {classes.Count} classes: {string.Join(", ", classes)}",
        };

        if (examples is { } ex)
        {
            // Discovered concepts: each with its top-activating images of this data set.
            var rows = ex.Tensors["samples"].Span<long>().ToArray();
            var vals = ex.Tensors["values"].Span<float>().ToArray();
            int kTop = (int)ex.Tensors["samples"].Shape[1], nc = (int)ex.Tensors["samples"].Shape[0];
            using var meta2 = JsonDocument.Parse(ex.Info.MetadataJson);
            var ids = meta2.RootElement.GetProperty("concepts").EnumerateArray().Select(e => e.GetInt32()).ToList();
            // Importance per class of each concept (columns of the class-importance report), when explained.
            float[]? imp = null;
            int impClasses = 0, impConcepts = 0;
            if (importance is { } ci && ci.Tensors.TryGetValue("importance", out var table))
            {
                imp = table.ToFloats();
                impClasses = (int)table.Shape[0];
                impConcepts = (int)table.Shape[1];
            }
            IReadOnlyList<double> PerClass(int concept) => imp is null || concept >= impConcepts ? []
                : Enumerable.Range(0, impClasses).Select(c => (double)imp[c * impConcepts + concept]).ToList();
            // How often each concept fires over the whole scan, and the distribution of its positive coefficients.
            ex.Tensors.TryGetValue("firing", out var firingT);
            ex.Tensors.TryGetValue("density", out var densityT);
            var firing = firingT?.Span<long>().ToArray();
            var density = densityT?.Span<long>().ToArray();
            int bins = densityT is null ? 0 : (int)densityT.Shape[1];
            double scanned = meta2.RootElement.TryGetProperty("scanned", out var sc) ? sc.GetDouble() : 0;
            double dMin = meta2.RootElement.TryGetProperty("density_min_log10", out var dm) ? dm.GetDouble() : 0;
            double dBin = meta2.RootElement.TryGetProperty("density_bin_log10", out var db) ? db.GetDouble() : 0.25;
            IReadOnlyList<(double, long)> Density(int i)
            {
                if (density is null || bins == 0) return [];
                var row = density.AsSpan(i * bins, bins).ToArray();
                int first = Array.FindIndex(row, v => v > 0), last = Array.FindLastIndex(row, v => v > 0);
                return first < 0 ? [] : Enumerable.Range(first, last - first + 1).Select(j => (dMin + j * dBin, row[j])).ToList();
            }
            model = model with { DensityBinLog10 = dBin };
            var heatmaps = Heatmaps(maps, images, hgt, wid, labels.Length);
            var trusted = Trust(trust);
            var found = new List<(AtlasConcept Concept, double Global, double Top)>();
            for (int i = 0; i < nc; i++)
            {
                var top = Enumerable.Range(0, kTop).Select(j => rows[i * kTop + j]).Where(r => r >= 0 && r < labels.Length).ToList();
                if (top.Count == 0 || vals[i * kTop] <= 0) continue; // a dead latent: never active on this data
                int id = ids[i];
                var perClass = PerClass(id);
                double global = perClass.Count > 0 ? perClass.Average(v => Math.Max(0, v)) : 0;
                var concept = id < conceptNames.Count
                    ? new AtlasConcept($"{conceptNames[id]} (concept {id})", id < similarity.Count ? similarity[id] : double.NaN, "name similarity", top.Select(r => Png(r)).ToList(), [], global > 0 ? perClass : [])
                    : new AtlasConcept($"concept {id}", vals[i * kTop], "top activation", top.Select(r => Png(r)).ToList(), [], global > 0 ? perClass : []);
                concept = concept with
                {
                    Alternatives = id < alternatives.Count ? alternatives[id] : [],
                    Gloss = id < glosses.Count ? glosses[id] : null,
                    Prevalence = firing is not null && scanned > 0 ? firing[i] / scanned : double.NaN,
                    Density = Density(i),
                    Importance = imp is null ? double.NaN : global,
                    Trust = trusted.GetValueOrDefault(id),
                };
                if (heatmaps.TryGetValue(id, out var heat)) concept = concept with { Heatmaps = heat };
                found.Add((concept, global, vals[i * kTop]));
            }
            var source = $"discovered by dictionary {meta2.RootElement.GetProperty("dictionary").GetString()![..12]}; top-activating images of data set {datasetId[..12]}";
            if (conceptNames.Count > 0) source += "; named by the nearest vocabulary word (and WordNet definition) of each concept's text direction (cosine similarity)";
            if (imp is not null) source += "; ordered by global importance in the sparse concept model, bars: mean importance for each class's logit over its samples";
            if (heatmaps.Count > 0) source += "; heatmaps: where each concept is in its top images (its atom's activation map on the spatial tap)";
            if (trusted.Count > 0) source += "; trust: each concept against the ground-truth value it detects best";
            return model with
            {
                Concepts = found.OrderByDescending(c => c.Global).ThenByDescending(c => c.Top).Select(c => c.Concept).ToList(),
                ConceptSource = source,
            };
        }

        if (!data.Tensors.TryGetValue("concept_labels", out var conceptLabels)) return model;
        var names = StepMetadata.Strings(data.Info.MetadataJson, "concept_names");
        int n = labels.Length, kc = (int)conceptLabels.Shape[1];
        var cl = conceptLabels.Span<float>().ToArray();
        data.Tensors.TryGetValue("concept_masks", out var masks);
        var concepts = new List<AtlasConcept>();
        for (int k = 0; k < kc; k++)
        {
            var with = Enumerable.Range(0, n).Where(i => cl[i * kc + k] > 0.5f).ToList();
            var top = with.Take(6).ToList();
            var heat = new List<byte[]>();
            if (masks is not null)
            {
                int mh = (int)masks.Shape[2], mw = (int)masks.Shape[3], mp = mh * mw;
                foreach (var i in top)
                {
                    var m = masks.Data.AsSpan((int)((i * kc + k) * mp), mp).ToArray().Select(b => (float)b).ToArray();
                    heat.Add(AtlasImages.Heatmap(images.Data.AsSpan((int)(i * per), per), c, hgt, wid, m, mh, mw, hgt <= 32 ? 4 : 2));
                }
            }
            var perClass = Enumerable.Range(0, classes.Count).Select(cls =>
            {
                var inClass = Enumerable.Range(0, n).Where(i => labels[i] == cls).ToList();
                return inClass.Count == 0 ? 0 : inClass.Count(i => cl[i * kc + k] > 0.5f) / (double)inClass.Count;
            }).ToList();
            concepts.Add(new AtlasConcept(k < names.Count ? names[k] : $"concept {k}", with.Count / (double)n, "prevalence",
                top.Select(i => Png(i)).ToList(), heat, perClass) { Prevalence = with.Count / (double)n });
        }
        return model with { Concepts = concepts, ConceptSource = $"ground-truth concepts of data set {datasetId[..12]} (importance per class = P(concept | class))" };
    }

    /// <summary>
    /// Per concept id, the heatmaps of an attribution-maps report over its top images (the report's
    /// rows of the data set, in order): each image in grey with the concept's map laid over it.
    /// </summary>
    static Dictionary<int, IReadOnlyList<byte[]>> Heatmaps((ArtifactInfo Info, Dictionary<string, HostTensor> Tensors)? report, HostTensor images,
        int height, int width, int rows)
    {
        var result = new Dictionary<int, IReadOnlyList<byte[]>>();
        if (report is not { } r || !r.Tensors.TryGetValue("maps", out var mapsT) || !r.Tensors.TryGetValue("samples", out var samplesT) || mapsT.Shape.Length != 4) return result;
        var ids = StepMetadata.Numbers(r.Info.MetadataJson, "concepts");
        var samples = samplesT.Span<long>().ToArray();
        var all = mapsT.ToFloats();
        int concepts = (int)mapsT.Shape[0], k = (int)mapsT.Shape[1], mh = (int)mapsT.Shape[2], mw = (int)mapsT.Shape[3], plane = mh * mw;
        int c = (int)images.Shape[1], per = c * height * width;
        for (int i = 0; i < Math.Min(concepts, ids.Count); i++)
        {
            var heat = new List<byte[]>();
            for (int j = 0; j < k; j++)
            {
                long row = samples[i * k + j];
                if (row < 0 || row >= rows) continue;
                heat.Add(AtlasImages.Heatmap(images.Data.AsSpan((int)(row * per), per), c, height, width,
                    all.AsSpan((i * k + j) * plane, plane), mh, mw, height <= 32 ? 4 : 2));
            }
            if (heat.Count > 0) result[(int)ids[i]] = heat;
        }
        return result;
    }

    /// <summary>Per concept id (a column of the trusted model's inputs), its figures in a concept-trust report.</summary>
    static Dictionary<int, AtlasTrust> Trust((ArtifactInfo Info, Dictionary<string, HostTensor> Tensors)? report)
    {
        var result = new Dictionary<int, AtlasTrust>();
        if (report is not { } r || !r.Tensors.TryGetValue("existence", out var existenceT)) return result;
        var json = r.Info.MetadataJson;
        var matched = StepMetadata.Strings(json, "matched");
        var auc = StepMetadata.Numbers(json, "auc");
        var relied = StepMetadata.Numbers(json, "relied");
        var located = StepMetadata.Numbers(json, "located");
        var existence = existenceT.ToFloats();
        var location = r.Tensors.TryGetValue("location", out var locationT) ? locationT.ToFloats() : [];
        bool corrected = StepMetadata.Bool(json, "location_chance_corrected");
        for (int k = 0; k < existence.Length; k++)
            result[k] = new AtlasTrust(k < matched.Count ? matched[k] : "", k < auc.Count ? auc[k] : double.NaN, k < relied.Count ? (long)relied[k] : 0,
                existence[k], k < located.Count ? (long)located[k] : 0, k < location.Length ? location[k] : double.NaN) { ChanceCorrected = corrected };
        return result;
    }

    /// <summary>The trust step's summary figures, when the workflow has one.</summary>
    static IEnumerable<(string, double, string)> TrustNumbers(WorkflowInfo w, string? reportMetadata)
    {
        if (w.Steps.LastOrDefault(s => s.Method == "explain.trust" && s.State == WorkflowState.Succeeded) is not { } t) yield break;
        if (t.Metrics.TryGetValue("existence", out var e)) yield return ("existence", e, "share of the concepts the model relies on that are in the image (ground truth)");
        bool Flag(string name) => StepMetadata.Bool(reportMetadata ?? "", name);
        var note = (Flag("location_all_relied") ? "over every relied-on concept (absent: 0), " : "over those present, ")
            + (Flag("location_chance_corrected") ? "the share of each activation map inside its ground-truth mask beyond the mask's area share (0: a uniform map, 1: all inside)"
                : "the share of each activation map inside its ground-truth mask");
        if (t.Metrics.TryGetValue("location", out var l)) yield return ("location", l, note);
        if (t.Metrics.TryGetValue("well_matched", out var m)) yield return ("well-matched concepts", m, "concepts detecting one ground-truth value with AUC ≥ 0.9");
    }

    /// <summary>The namer's nearest definitions per concept: metadata "glosses" [{word, gloss, similarity}, ...]; empty when absent.</summary>
    static List<(string, string, double)?> Glosses(string metadataJson)
    {
        using var doc = JsonDocument.Parse(string.IsNullOrEmpty(metadataJson) ? "{}" : metadataJson);
        if (!doc.RootElement.TryGetProperty("glosses", out var all) || all.ValueKind != JsonValueKind.Array) return [];
        return all.EnumerateArray().Select(g => g.ValueKind != JsonValueKind.Object ? ((string, string, double)?)null
            : (g.GetProperty("word").GetString() ?? "", g.GetProperty("gloss").GetString() ?? "", g.GetProperty("similarity").GetDouble())).ToList();
    }

    /// <summary>The namer's alternatives per concept: metadata "alternatives" [[{word, similarity}, ...], ...].</summary>
    static List<List<(string, double)>> Alternatives(string metadataJson)
    {
        using var doc = JsonDocument.Parse(metadataJson);
        if (!doc.RootElement.TryGetProperty("alternatives", out var all) || all.ValueKind != JsonValueKind.Array) return [];
        return all.EnumerateArray().Select(c => c.ValueKind != JsonValueKind.Array ? new List<(string, double)>()
            : c.EnumerateArray().Select(a => (a.GetProperty("word").GetString() ?? "", a.GetProperty("similarity").GetDouble())).ToList()).ToList();
    }

    /// <summary>Headline labels for the summary step's metrics, in reading order.</summary>
    static readonly (string Metric, string Label, string Note)[] Headline =
    [
        ("probe_accuracy", "linear probe", "held-out accuracy on the backbone's features (baseline)"),
        ("sparse_probe_accuracy", "sparse concept model", "held-out accuracy from the named concepts"),
        ("sparse_probe_concepts_per_class", "concepts per class", "at most, in the sparse concept model"),
        ("pcbm_h_accuracy", "PCBM-h", "held-out accuracy of the post-hoc concept bottleneck with residual"),
        ("dictionary_r2", "dictionary R²", "variance of the activations the concepts reconstruct (training rows)"),
        ("dictionary_val_r2", "dictionary R² (held out)", "on rows the fit did not see"),
        ("dictionary_l0", "L0", "concepts active per sample"),
        ("completeness", "completeness", "share of the probe's accuracy the concept model keeps"),
        ("deletion_area", "deletion area", "score left as important concepts are removed (lower is better)"),
        ("insertion_area", "insertion area", "score regained as they are inserted (higher is better)"),
        ("distinct_names", "distinct names", "different words among the named concepts"),
    ];

    /// <summary>The summary step's headline figures; without one, each model's held-out accuracy.</summary>
    static List<(string, double, string)> KeyNumbers(WorkflowInfo w, IReadOnlyList<AtlasModelScore> models)
    {
        if (w.Steps.LastOrDefault(s => s.Method == "gateway.report" && s.State == WorkflowState.Succeeded) is { } report)
            return Headline.Where(h => report.Metrics.ContainsKey(h.Metric)).Select(h => (h.Label, report.Metrics[h.Metric], h.Note)).ToList();
        return models.SelectMany(m => m.Metrics.Where(kv => kv.Key.Contains("accuracy", StringComparison.Ordinal)).Take(1)
            .Select(kv => (m.Model, kv.Value, kv.Key.Replace('_', ' ')))).ToList();
    }
}
