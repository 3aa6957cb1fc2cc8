using System.Text.Json;
using System.Text.Json.Nodes;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Generate.Evaluation;
using ConceptSuite.Generate.Text;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Generate.Model;

/// <summary>
/// A "generator" artifact: tensors "unet.*" (the denoiser's parameters and buffers) and
/// "classifier.*" (its concept classifier, trained on the real images it was trained on);
/// metadata {"config", "concepts", "max_tokens", "classifier_image_size", "metrics", "parent", "edit"}.
/// </summary>
public static class GeneratorArtifact
{
    public const string Kind = "generator";
    static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>A loaded generator with its judge and metadata.</summary>
    public sealed record Loaded(ConceptGenerator Generator, ConceptClassifier Classifier, JsonObject Metadata, string Id) : IDisposable
    {
        public void Dispose() { Generator.Dispose(); Classifier.Dispose(); }
    }

    public static async Task<ArtifactInfo> SaveAsync(ArtifactStore store, ConceptGenerator generator, ConceptClassifier classifier,
        JsonObject? extra = null, CancellationToken ct = default, string runJson = "")
    {
        var meta = new JsonObject
        {
            ["config"] = JsonSerializer.SerializeToNode(generator.Config, Json),
            ["concepts"] = new JsonArray(generator.Vocabulary.Concepts.Select(c => (JsonNode)c).ToArray()),
            ["max_tokens"] = generator.Vocabulary.MaxTokens,
            ["classifier_image_size"] = classifier.ImageSize,
        };
        if (extra is not null) foreach (var (k, v) in extra) meta[k] = v?.DeepClone();
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (k, v) in generator.Model.named_parameters()) tensors["unet." + k] = v.detach().cpu().clone();
        foreach (var (k, v) in classifier.named_parameters()) tensors["classifier." + k] = v.detach().cpu().clone();
        return await store.PutAsync(Kind, tensors, meta.ToJsonString(), new Dictionary<string, string> { ["stage"] = "generate" }, ct, runJson);
    }

    public static Loaded Load(ArtifactStore store, string id, Device device, string field = "generator.id")
    {
        if (string.IsNullOrEmpty(id)) throw new InvalidInputException(field, "is required");
        using var reader = store.Open(id, field);
        if (reader.Info.Ref.Kind != Kind) throw new InvalidInputException(field, $"artifact {id} is a '{reader.Info.Ref.Kind}', not a generator");
        var meta = JsonNode.Parse(reader.Info.MetadataJson)!.AsObject();
        var config = meta["config"].Deserialize<GeneratorConfig>(Json)!;
        var vocab = new ConceptVocabulary(meta["concepts"]!.AsArray().Select(n => n!.GetValue<string>()).ToList(), meta["max_tokens"]!.GetValue<int>());
        var gen = new ConceptGenerator(config, vocab, device); // weights read next
        var clf = new ConceptClassifier(vocab.Groups, meta["classifier_image_size"]!.GetValue<int>());
        LoadState(gen.Model, reader, "unet.", device);
        LoadState(clf, reader, "classifier.", device);
        clf.to(device);
        return new Loaded(gen, clf, meta, id);
    }

    static void LoadState(nn.Module module, ArtifactReader reader, string prefix, Device device)
    {
        var state = new Dictionary<string, Tensor>();
        foreach (var name in reader.Entries.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)))
        {
            // An owned copy: the read tensor borrows the file buffer.
            using var read = reader.Read(name);
            state[name[prefix.Length..]] = read.clone().to(device);
        }
        var own = module.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).Concat(module.named_buffers()).ToDictionary(x => x.Item1, x => x.Item2);
        if (!own.Keys.ToHashSet().SetEquals(state.Keys))
            throw new InvalidDataException($"artifact {reader.Info.Ref.Id}: {prefix}* tensors do not match the model ({string.Join(", ", own.Keys.Except(state.Keys).Concat(state.Keys.Except(own.Keys)).Take(5))})");
        using (no_grad())
            foreach (var (k, v) in state) own[k].copy_(v);
        foreach (var t in state.Values) t.Dispose();
    }
}
