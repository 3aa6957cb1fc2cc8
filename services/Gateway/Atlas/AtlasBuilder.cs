using System.Text.Json;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using Grpc.Core;
using Grpc.Net.Client;

namespace ConceptSuite.Gateway.Atlas;

/// <summary>
/// Assembles a workflow's atlas from its state and its artifacts, read through the gateway's
/// GetArtifact: the steps and their metrics, the accuracy of every model a step reports
/// (metrics named *accuracy*), sample images per class of the workflow's last data set, and
/// the concepts — for a data set with ground-truth concept labels and masks, each concept's
/// prevalence, its images, its masks as heatmaps and P(concept | class).
/// </summary>
public static class AtlasBuilder
{
    public static async Task<AtlasModel> BuildAsync(GrpcChannel gateway, WorkflowInfo w, CancellationToken ct = default)
    {
        var steps = w.Steps.Select(s => new AtlasStep(s.Name, $"{s.Stage}/{s.Method}", s.State.ToString().Replace("WORKFLOW_STATE_", "").ToLowerInvariant(),
            s.Reused, s.Metrics.ToDictionary(kv => kv.Key, kv => kv.Value), s.Error)).ToList();
        var models = w.Steps.Where(s => s.Metrics.Keys.Any(k => k.Contains("accuracy", StringComparison.Ordinal)))
            .Select(s => new AtlasModelScore(s.Name, s.Metrics.Where(kv => kv.Key.Contains("accuracy", StringComparison.Ordinal) || kv.Key is "l0" or "r2" or "active_concepts")
                .ToDictionary(kv => kv.Key, kv => kv.Value))).ToList();

        var outputs = w.Steps.Where(s => s.State == WorkflowState.Succeeded).SelectMany(s => s.Outputs.Values).ToList();
        var datasetId = outputs.LastOrDefault(r => r.Kind == "dataset")?.Id;
        (ArtifactInfo Info, Dictionary<string, HostTensor> Tensors)? examples = null;
        foreach (var r in outputs.Where(r => r.Kind == "report"))
        {
            var e = await DownloadAsync(gateway, r.Id, ct);
            using var doc = JsonDocument.Parse(e.Info.MetadataJson);
            if (doc.RootElement.TryGetProperty("type", out var t) && t.GetString() == "top-examples")
            {
                examples = e;
                if (doc.RootElement.TryGetProperty("dataset", out var d) && d.GetString() is { Length: 64 } ds) datasetId = ds;
            }
        }
        var model = new AtlasModel { Title = w.Name, WorkflowId = w.Id, Steps = steps, Models = models };
        if (datasetId is null) return model;

        var data = await DownloadAsync(gateway, datasetId, ct);
        var images = data.Tensors["images"];
        var labels = data.Tensors["labels"].Span<long>().ToArray();
        int c = (int)images.Shape[1], hgt = (int)images.Shape[2], wid = (int)images.Shape[3], per = c * hgt * wid;
        byte[] Png(long i) => AtlasImages.Png(images.Data.AsSpan((int)(i * per), per), c, hgt, wid, hgt <= 32 ? 4 : 2);
        var meta = JsonDocument.Parse(data.Info.MetadataJson).RootElement;
        var classes = meta.TryGetProperty("class_names", out var cn) && cn.ValueKind == JsonValueKind.Array
            ? cn.EnumerateArray().Select(e => e.GetString() ?? "").ToList() : [];
        var samples = new List<(string, IReadOnlyList<byte[]>)>();
        for (int k = 0; k < classes.Count; k++)
        {
            var idx = Enumerable.Range(0, labels.Length).Where(i => labels[i] == k).Take(8).ToList();
            if (idx.Count > 0) samples.Add((classes[k], idx.Select(i => Png(i)).ToList()));
        }
        model = model with { Samples = samples, ClassNames = classes };

        if (examples is { } ex)
        {
            // Discovered concepts: each with its top-activating images of this data set.
            var rows = ex.Tensors["samples"].Span<long>().ToArray();
            var vals = ex.Tensors["values"].Span<float>().ToArray();
            int kTop = (int)ex.Tensors["samples"].Shape[1], nc = (int)ex.Tensors["samples"].Shape[0];
            using var meta2 = JsonDocument.Parse(ex.Info.MetadataJson);
            var ids = meta2.RootElement.GetProperty("concepts").EnumerateArray().Select(e => e.GetInt32()).ToList();
            var found = new List<AtlasConcept>();
            for (int i = 0; i < nc; i++)
            {
                var top = Enumerable.Range(0, kTop).Select(j => rows[i * kTop + j]).Where(r => r >= 0 && r < labels.Length).ToList();
                if (top.Count == 0 || vals[i * kTop] <= 0) continue; // a dead latent: never active on this data
                found.Add(new AtlasConcept($"concept {ids[i]}", vals[i * kTop], "top activation", top.Select(r => Png(r)).ToList(), [], []));
            }
            return model with
            {
                Concepts = found.OrderByDescending(c => c.Score).ToList(),
                ConceptSource = $"discovered by dictionary {meta2.RootElement.GetProperty("dictionary").GetString()![..12]}; top-activating images of data set {datasetId[..12]}",
            };
        }

        if (!data.Tensors.TryGetValue("concept_labels", out var conceptLabels)) return model;
        var names = meta.TryGetProperty("concept_names", out var nn) && nn.ValueKind == JsonValueKind.Array
            ? nn.EnumerateArray().Select(e => e.GetString() ?? "").ToList() : [];
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
                top.Select(i => Png(i)).ToList(), heat, perClass));
        }
        return model with { Concepts = concepts, ConceptSource = $"ground-truth concepts of data set {datasetId[..12]} (importance per class = P(concept | class))" };
    }

    /// <summary>An artifact's info and tensors (whole), read block by block through the gateway.</summary>
    public static async Task<(ArtifactInfo Info, Dictionary<string, HostTensor> Tensors)> DownloadAsync(GrpcChannel gateway, string id, CancellationToken ct)
    {
        using var call = new Contracts.GatewayService.GatewayServiceClient(gateway).GetArtifact(new GetArtifactRequest { Id = id }, cancellationToken: ct);
        if (!await call.ResponseStream.MoveNext(ct) || call.ResponseStream.Current.Info is not { } info)
            throw new RpcException(new Status(StatusCode.DataLoss, $"artifact {id}: no info header"));
        var tensors = await TensorStreamClient.ReadAllAsync(Blocks(call.ResponseStream, ct), ct);
        return (info, tensors);
    }

    static async IAsyncEnumerable<TensorBlock> Blocks(IAsyncStreamReader<GetArtifactResponse> r, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        while (await r.MoveNext(ct)) yield return r.Current.Block;
    }
}
