using System.Text.Json;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Discovery.Abstractions;
using ConceptSuite.Discovery.Fitting;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Discovery.Naming;

/// <summary>How a concept's text direction is found: the image→text bridge applied to its atom, or the covariance of its code with the caption embeddings.</summary>
public enum NamingMode { Bridge, Direction }

/// <summary>
/// Names dictionary atoms (Discover-then-Name without CLIP). Each concept gets a text direction
/// t_i [D_txt] and is named by the vocabulary entry e_v maximising cos(t_i, e_v). With paired rows
/// (image activations and the embeddings of their captions) t_i is the covariance of the concept's
/// code with the caption embeddings — the change of caption that goes with the concept
/// (<see cref="NamingMode.Direction"/>); with a stored bridge alone it is the bridged atom,
/// t_i = w_i M (<see cref="NamingMode.Bridge"/>). On concept-shapes, where every caption says every
/// factor value, the covariance names 100 % of the well-matched concepts right for SAE, NMF and PCA
/// dictionaries and the bridged atom 0–100 % (the naming benchmark): a ridge bridge from 512 image
/// dimensions fitted on a few thousand pairs maps an atom onto whatever caption words co-vary with its
/// whole direction, while the code says which images the concept actually fires on.
/// The vocabulary is an artifact of text embeddings (tensor "embeddings" [V, D_txt], metadata
/// {"words": [...]}) made by the embedding stage; with tensor "gloss_embeddings" [G, D_txt] and
/// metadata "glosses" [{word, gloss}] each concept also gets its nearest definition (a
/// sentence-level name), stored in the names metadata as "glosses".
/// </summary>
public static class ConceptNamer
{
    /// <summary>Best words per atom: (indices [C, n], cosine [C, n]) for mapped atoms [C, D_txt] and vocabulary [V, D_txt].</summary>
    public static (long[][] Words, float[][] Similarity) Nearest(Tensor mapped, Tensor vocabulary, int n)
    {
        using var scope = NewDisposeScope();
        var a = mapped.to_type(ScalarType.Float64);
        a = a / a.norm(1, keepdim: true).clamp_min(1e-12);
        var v = vocabulary.to_type(ScalarType.Float64);
        v = v / v.norm(1, keepdim: true).clamp_min(1e-12);
        var cos = a.matmul(v.t());
        int keep = (int)Math.Min(n, vocabulary.shape[0]);
        var (vals, idx) = cos.topk(keep, dim: 1);
        var iv = idx.contiguous().data<long>().ToArray();
        var vv = vals.to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
        var words = new long[mapped.shape[0]][];
        var sims = new float[mapped.shape[0]][];
        for (int c = 0; c < words.Length; c++)
        {
            words[c] = iv.AsSpan(c * keep, keep).ToArray();
            sims[c] = vv.AsSpan(c * keep, keep).ToArray();
        }
        return (words, sims);
    }

    /// <summary>
    /// Best words per concept under a naming <paramref name="mode"/>: the concept's text direction
    /// [C, D_txt] — the bridged atom, or the covariance of its code with the caption embeddings —
    /// against the vocabulary, optionally centred (each word embedding minus the vocabulary mean,
    /// so the direction every word shares does not decide).
    /// </summary>
    public static long[][] NameWith(NamingMode mode, Tensor atoms, Tensor x, Tensor codes, Tensor captions, Tensor vocabulary, bool centred, int n)
    {
        using var scope = NewDisposeScope();
        Tensor directions;
        if (mode == NamingMode.Bridge)
        {
            var (bridge, _) = ImageTextBridge.Fit(x, captions, 1e-3);
            using (bridge) directions = bridge.MapDirections(atoms);
        }
        else directions = TextDirections(codes, captions);
        var v = centred ? vocabulary - vocabulary.mean([0], keepdim: true) : vocabulary;
        return Nearest(directions, v, n).Words;
    }

    /// <summary>
    /// Per-concept text directions [C, D_txt]: the covariance of each concept's code with the caption
    /// embeddings over the paired rows, Σᵢ (zᵢ꜀ − z̄꜀)(tᵢ − t̄) / N — the caption change that goes with the concept.
    /// </summary>
    public static Tensor TextDirections(Tensor codes, Tensor captions)
    {
        if (codes.shape[0] != captions.shape[0]) throw new InvalidInputException("bridge_pairs", $"{codes.shape[0]} code rows but {captions.shape[0]} caption rows");
        using var scope = NewDisposeScope();
        var z = codes.to_type(ScalarType.Float64);
        var t = captions.to_type(ScalarType.Float64);
        var zc = z - z.mean([0], keepdim: true);
        var tc = t - t.mean([0], keepdim: true);
        return (zc.t().matmul(tc) / codes.shape[0]).to_type(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    public static async Task<NameConceptsResponse> NameAsync(ArtifactStore store, NameConceptsRequest request, CancellationToken ct)
    {
        // The tensor work runs synchronously in its own dispose scope: scopes are per thread, so none may stay open across an await.
        var (response, tensors, metaJson) = Name(store, request, ct);
        try
        {
            var info = await store.PutAsync("concept-names", tensors, metaJson, new Dictionary<string, string> { ["stage"] = "discovery" }, ct);
            response.Names = info.Ref;
            response.Bridge = info.Ref;
            return response;
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    /// <summary>Names every atom; returns the response (without artifact refs) and the detached tensors and metadata to store.</summary>
    static (NameConceptsResponse Response, Dictionary<string, Tensor> Tensors, string MetaJson) Name(ArtifactStore store, NameConceptsRequest request, CancellationToken ct)
    {
        int alternatives = request.Alternatives == 0 ? 4 : request.Alternatives;
        if (alternatives is < 0 or > 100) throw new InvalidInputException("alternatives", $"must be in [0, 100], got {request.Alternatives}");
        int topN = request.TopExamples == 0 ? 8 : request.TopExamples;
        if (topN is < 1 or > 1024) throw new InvalidInputException("top_examples", $"must be in [1, 1024], got {request.TopExamples}");
        if (request.Vocabulary is not { Id.Length: > 0 }) throw new InvalidInputException("vocabulary", "is required");

        var (meta, dict) = DictionaryArtifacts.Load(store, request.Dictionary, "dictionary");
        using var _ = dict;
        using var scope = NewDisposeScope();

        // Vocabulary.
        Tensor vocab;
        List<string> words;
        using (var r = store.Open(request.Vocabulary.Id, "vocabulary.id"))
        {
            vocab = r.Read(r.Entry("embeddings", "vocabulary").Name).to_type(ScalarType.Float32);
            using var doc = JsonDocument.Parse(string.IsNullOrEmpty(r.Info.MetadataJson) ? "{}" : r.Info.MetadataJson);
            if (!doc.RootElement.TryGetProperty("words", out var w) || w.ValueKind != JsonValueKind.Array)
                throw new InvalidInputException("vocabulary", "metadata must hold a \"words\" array");
            words = w.EnumerateArray().Select(e => e.GetString() ?? "").ToList();
        }
        if (vocab.dim() != 2 || vocab.shape[0] != words.Count || words.Count == 0)
            throw new InvalidInputException("vocabulary", $"embeddings [{string.Join(", ", vocab.shape)}] must be [V, D] with V = {words.Count} words (V >= 1)");
        if (!vocab.isfinite().all().item<bool>()) throw new InvalidInputException("vocabulary", "embeddings hold NaN or Inf");
        var (glossVectors, glosses) = ReadGlosses(store, request.Vocabulary.Id, vocab.shape[1]);

        // Bridge.
        ImageTextBridge bridge;
        double bridgeR2 = 0;
        Tensor? pairedX = null, pairedCaptions = null;
        switch (request.BridgeCase)
        {
            case NameConceptsRequest.BridgeOneofCase.BridgeArtifact:
                using (var r = store.Open(request.BridgeArtifact.Id, "bridge_artifact.id"))
                {
                    var wt = r.Read(r.Entry("weight", "bridge_artifact").Name).to_type(ScalarType.Float32);
                    var bias = r.Has("bias") ? r.Read("bias").to_type(ScalarType.Float32) : zeros(wt.shape[^1]);
                    bridge = new ImageTextBridge(wt, bias);
                }
                break;
            case NameConceptsRequest.BridgeOneofCase.BridgePairs:
            {
                var p = request.BridgePairs;
                if (p.ImageActivations is not { Id.Length: > 0 }) throw new InvalidInputException("bridge_pairs.image_activations", "is required");
                if (p.CaptionEmbeddings is not { Id.Length: > 0 }) throw new InvalidInputException("bridge_pairs.caption_embeddings", "is required");
                var x = ReadMatrix(store, p.ImageActivations.Id, string.IsNullOrEmpty(p.ImageTensor) ? "activations" : p.ImageTensor, "bridge_pairs.image_activations");
                var t = ReadMatrix(store, p.CaptionEmbeddings.Id, string.IsNullOrEmpty(p.CaptionTensor) ? "embeddings" : p.CaptionTensor, "bridge_pairs.caption_embeddings");
                (bridge, bridgeR2) = ImageTextBridge.Fit(x, t, p.Ridge == 0 ? 1e-3 : p.Ridge);
                (pairedX, pairedCaptions) = (x, t);
                break;
            }
            default:
                throw new InvalidInputException("bridge", "set bridge_artifact or bridge_pairs");
        }
        using var __ = bridge;
        if (bridge.Weight.dim() != 2 || bridge.Weight.shape[0] != meta.InputDim)
            throw new InvalidInputException("bridge", $"weight [{string.Join(", ", bridge.Weight.shape)}] must be [{meta.InputDim}, D_txt] (the dictionary's input width)");
        if (bridge.Weight.shape[1] != vocab.shape[1])
            throw new InvalidInputException("bridge", $"maps into {bridge.Weight.shape[1]} dims but the vocabulary embeddings have {vocab.shape[1]}");

        if (pairedX is not null && pairedX.shape[1] != meta.InputDim)
            throw new InvalidInputException("bridge_pairs.image_activations", $"samples have width {pairedX.shape[1]}, the dictionary expects {meta.InputDim}");
        // Paired rows give each concept its own text direction from its codes; a stored bridge alone maps the atoms.
        var directions = pairedX is not null && pairedCaptions is not null
            ? TextDirections(dict.Encode(pairedX), pairedCaptions)
            : bridge.MapDirections(dict.Atoms());
        var (best, sims) = Nearest(directions, vocab, 1 + alternatives);
        var (bestGloss, glossSims) = glossVectors is null ? (null, null) : Nearest(directions, glossVectors, 1);

        TopActivations.Result? top = null;
        if (request.Activations is { Id.Length: > 0 } act)
        {
            var src = new ArtifactRowSource(store, act.Id, "activations", "activations");
            if (src.Dim != meta.InputDim) throw new InvalidInputException("activations", $"samples have width {src.Dim}, the dictionary expects {meta.InputDim}");
            top = TopActivations.Find(dict, src, Enumerable.Range(0, meta.Concepts).ToArray(), topN, ct);
        }

        var response = new NameConceptsResponse { BridgeR2 = bridgeR2 };
        var names = new List<string>();
        for (int c = 0; c < meta.Concepts; c++)
        {
            var cn = new ConceptName { Concept = c, Name = words[(int)best[c][0]], Similarity = sims[c][0] };
            for (int j = 1; j < best[c].Length; j++) cn.Alternatives.Add(new ScoredWord { Word = words[(int)best[c][j]], Similarity = sims[c][j] });
            if (top is not null) cn.TopRows.Add(top.Samples[c]);
            response.Concepts.Add(cn);
            names.Add(cn.Name);
        }
        var metaJson = JsonSerializer.Serialize(new
        {
            dictionary = request.Dictionary.Artifact.Id, dictionary_name = meta.Name, vocabulary = request.Vocabulary.Id,
            names, similarity = response.Concepts.Select(c => c.Similarity).ToArray(), bridge_r2 = bridgeR2,
            naming = pairedX is not null ? "code-caption covariance" : "bridged atom",
            glosses = bestGloss is null ? null : bestGloss.Select((g, c) => new { word = glosses![(int)g[0]].Word, gloss = glosses[(int)g[0]].Gloss, similarity = glossSims![c][0] }).ToArray(),
            alternatives = response.Concepts.Select(c => c.Alternatives.Select(a => new { word = a.Word, similarity = a.Similarity }).ToArray()).ToArray(),
        });
        var tensors = new Dictionary<string, Tensor>
        {
            ["weight"] = bridge.Weight.clone().DetachFromDisposeScope(), ["bias"] = bridge.Bias.clone().DetachFromDisposeScope(),
            ["similarity"] = tensor(response.Concepts.Select(c => c.Similarity).ToArray()).DetachFromDisposeScope(),
        };
        return (response, tensors, metaJson);
    }

    /// <summary>The vocabulary's definitions, when it has them: tensor "gloss_embeddings" [G, D] and metadata "glosses" [{word, gloss}].</summary>
    static (Tensor? Vectors, List<(string Word, string Gloss)> Glosses) ReadGlosses(ArtifactStore store, string id, long dim)
    {
        using var r = store.Open(id, "vocabulary.id");
        if (!r.Has("gloss_embeddings")) return (null, []);
        using var doc = JsonDocument.Parse(string.IsNullOrEmpty(r.Info.MetadataJson) ? "{}" : r.Info.MetadataJson);
        if (!doc.RootElement.TryGetProperty("glosses", out var g) || g.ValueKind != JsonValueKind.Array)
            throw new InvalidInputException("vocabulary", "has gloss_embeddings but no \"glosses\" array in its metadata");
        var glosses = g.EnumerateArray().Select(e => (e.GetProperty("word").GetString() ?? "", e.GetProperty("gloss").GetString() ?? "")).ToList();
        var v = r.Read("gloss_embeddings").to_type(ScalarType.Float32);
        if (v.dim() != 2 || v.shape[0] != glosses.Count || v.shape[1] != dim || glosses.Count == 0)
            throw new InvalidInputException("vocabulary", $"gloss_embeddings [{string.Join(", ", v.shape)}] must be [G, {dim}] with G = {glosses.Count} glosses (G >= 1)");
        if (!v.isfinite().all().item<bool>()) throw new InvalidInputException("vocabulary", "gloss_embeddings hold NaN or Inf");
        return (v, glosses);
    }

    static Tensor ReadMatrix(ArtifactStore store, string id, string tensorName, string field)
    {
        using var r = store.Open(id, field + ".id");
        var t = r.Read(r.Entry(tensorName, field).Name).to_type(ScalarType.Float32);
        if (!t.isfinite().all().item<bool>()) throw new InvalidInputException(field, "holds NaN or Inf");
        return t.dim() == 2 ? t : t.reshape(t.shape[0], -1);
    }
}
