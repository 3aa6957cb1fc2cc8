using ConceptSuite.Core.Tensors;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Embedding.Methods;
using TorchSharp;

namespace ConceptSuite.Embedding.Models;

/// <summary>
/// Built-in networks stored as "backbone" artifacts: one tensor per state-dict entry plus
/// <see cref="BackboneMeta"/>. Served as model "backbone:&lt;artifact id&gt;". The metadata is
/// range-checked before a network is built from it, and every stored tensor must have the
/// shape of the entry it fills, so a forged or damaged artifact is refused, never built.
/// </summary>
public static class BackboneArtifacts
{
    public const string Kind = "backbone";
    public const string Prefix = "backbone:";

    /// <summary>The artifact's metadata, checked: a known architecture and sizes in range.</summary>
    public static (BackboneMeta Meta, BackboneShape Shape) ReadMeta(ArtifactInfo info, string field)
    {
        var id = info.Ref.Id;
        var meta = ArtifactMetadata.Read<BackboneMeta>(info, Kind, "backbone", field);
        if (meta.Architecture is not ("cnn" or "vit")) throw new InvalidInputException(field, $"backbone {id}: unknown architecture '{meta.Architecture}'");
        if (meta.Epochs < 0) throw new InvalidInputException(field, $"backbone {id}: epochs {meta.Epochs} < 0");
        var shape = new BackboneShape(meta.Channels, meta.Height, meta.Width, meta.Classes).Check($"{field} (backbone {id} metadata)");
        return (meta, shape);
    }

    public static IBackbone Load(ArtifactStore store, string id, torch.Device device, string field)
    {
        var info = store.GetInfo(id, field);
        var (meta, shape) = ReadMeta(info, field);
        var module = Backbones.Create(meta.Architecture, shape, field); // weights read next
        try
        {
            using var reader = store.Open(id, field);
            using var scope = torch.NewDisposeScope();
            var state = module.state_dict();
            var missing = state.Keys.Where(k => !reader.Entries.ContainsKey(k)).ToList();
            if (missing.Count > 0) throw new InvalidInputException(field, $"backbone {id}: no tensor for {string.Join(", ", missing)}");
            foreach (var (name, t) in state)
            {
                var e = reader.Entries[name];
                if (!e.Shape.SequenceEqual(t.shape))
                    throw new InvalidInputException(field, $"backbone {id}: tensor '{name}' is [{string.Join(", ", e.Shape)}], the network needs [{string.Join(", ", t.shape)}]");
                var stored = reader.Read(name);
                using (torch.no_grad()) t.copy_(stored);
            }
            if (state.Values.Any(t => !t.isfinite().all().item<bool>())) throw new InvalidInputException(field, $"backbone {id}: weights hold NaN or Inf");
        }
        catch
        {
            module.Dispose();
            throw;
        }
        return new BuiltinBackbone(Prefix + id, meta.Epochs.ToString(), Source(id, meta), module,
            new InputSpec(meta.Channels, meta.Height, meta.Width, Preprocessing), device);
    }

    const string Preprocessing = "x/255";

    static string Source(string id, BackboneMeta meta) => $"artifact:{id} ({meta.Architecture} trained on {meta.DatasetId})";

    /// <summary>The model as ListModels and GetModel describe it, from the metadata alone (nothing is loaded).</summary>
    public static ModelDescriptor Describe(ArtifactInfo info, int maxBatch, string field)
    {
        var (meta, shape) = ReadMeta(info, field);
        var d = new ModelDescriptor
        {
            Name = Prefix + info.Ref.Id, Version = meta.Epochs.ToString(), Kind = "builtin", Source = Source(info.Ref.Id, meta), MaxBatch = maxBatch,
            Input = new ModelInputSpec { Channels = meta.Channels, Height = meta.Height, Width = meta.Width, Preprocessing = Preprocessing },
        };
        foreach (var (name, tapShape) in Backbones.TapShapes(meta.Architecture, shape, field))
        {
            var spec = new TapSpec(name, tapShape, name);
            var td = new TapDescriptor { Name = name, Layout = spec.Layout, Source = name };
            td.Shape.Add(tapShape);
            d.Taps.Add(td);
        }
        return d;
    }
}
