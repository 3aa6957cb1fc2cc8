using System.Text.Json;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Discovery.Abstractions;
using ConceptSuite.Discovery.Fitting;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Discovery.Naming;

/// <summary>
/// Names dictionary atoms (Discover-then-Name without CLIP): each atom w_i [D_img] is mapped into
/// the text space by the bridge, t_i = w_i M, and named by the vocabulary entry e_v maximising
/// cos(t_i, e_v). The vocabulary is an artifact of text embeddings (tensor "embeddings" [V, D_txt],
/// metadata {"words": [...]}) made by the embedding stage.
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

        // Bridge.
        ImageTextBridge bridge;
        double bridgeR2 = 0;
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

        var atoms = dict.Atoms();
        var mapped = bridge.MapDirections(atoms);
        var (best, sims) = Nearest(mapped, vocab, 1 + alternatives);

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
            alternatives = response.Concepts.Select(c => c.Alternatives.Select(a => new { word = a.Word, similarity = a.Similarity }).ToArray()).ToArray(),
        });
        var tensors = new Dictionary<string, Tensor>
        {
            ["weight"] = bridge.Weight.clone().DetachFromDisposeScope(), ["bias"] = bridge.Bias.clone().DetachFromDisposeScope(),
            ["similarity"] = tensor(response.Concepts.Select(c => c.Similarity).ToArray()).DetachFromDisposeScope(),
        };
        return (response, tensors, metaJson);
    }

    static Tensor ReadMatrix(ArtifactStore store, string id, string tensorName, string field)
    {
        using var r = store.Open(id, field + ".id");
        var t = r.Read(r.Entry(tensorName, field).Name).to_type(ScalarType.Float32);
        if (!t.isfinite().all().item<bool>()) throw new InvalidInputException(field, "holds NaN or Inf");
        return t.dim() == 2 ? t : t.reshape(t.shape[0], -1);
    }
}
