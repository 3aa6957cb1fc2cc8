using System.Text.Json;
using System.Text.Json.Serialization;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Embedding.Methods;
using TorchSharp;

namespace ConceptSuite.Embedding.Models;

/// <summary>
/// Built-in networks stored as "backbone" artifacts: one tensor per state-dict entry plus
/// <see cref="BackboneMeta"/>. Served as model "backbone:&lt;artifact id&gt;".
/// </summary>
public static class BackboneArtifacts
{
    public const string Kind = "backbone";
    public const string Prefix = "backbone:";

    public static IBackbone Load(ArtifactStore store, string id, torch.Device device, string field)
    {
        var info = store.GetInfo(id, field);
        if (info.Ref.Kind != Kind) throw new InvalidInputException(field, $"artifact {id} is a '{info.Ref.Kind}', not a backbone");
        var meta = JsonSerializer.Deserialize<BackboneMeta>(info.MetadataJson) ?? throw new InvalidInputException(field, "backbone metadata is empty");
        var module = Backbones.Create(meta.Architecture, new BackboneShape(meta.Channels, meta.Height, meta.Width, meta.Classes)); // weights read next
        using (var reader = store.Open(id, field))
        using (var scope = torch.NewDisposeScope())
        {
            var state = module.state_dict();
            foreach (var (name, t) in state)
            {
                var stored = reader.Read(name);
                using (torch.no_grad()) t.copy_(stored);
            }
        }
        return new BuiltinBackbone(Prefix + id, meta.Epochs.ToString(), $"artifact:{id} ({meta.Architecture} trained on {meta.DatasetId})", module,
            new InputSpec(meta.Channels, meta.Height, meta.Width, "x/255"), device);
    }
}
