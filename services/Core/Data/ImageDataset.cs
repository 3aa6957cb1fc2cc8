using System.Text.Json;
using ConceptSuite.Core.Artifacts;
using TorchSharp;

namespace ConceptSuite.Core.Data;

/// <summary>
/// A labelled image set, optionally with per-instance concept labels and per-concept pixel masks.
/// Images uint8 [N, C, H, W]; Labels int64 [N]; ConceptLabels float32 [N, K] in {0, 1};
/// ConceptMasks uint8 [N, K, H, W] in {0, 1}; Captions one per image (text prompts).
/// As an artifact (kind "dataset"): tensors "images", "labels", "concept_labels", "concept_masks";
/// metadata {"name", "class_names", "concept_names", "captions"}.
/// </summary>
public sealed record ImageDataset(
    string Name,
    torch.Tensor Images,
    torch.Tensor Labels,
    IReadOnlyList<string> ClassNames,
    torch.Tensor? ConceptLabels = null,
    IReadOnlyList<string>? ConceptNames = null,
    torch.Tensor? ConceptMasks = null,
    IReadOnlyList<string>? Captions = null) : IDisposable
{
    public const string Kind = "dataset";

    public long Count => Images.shape[0];

    /// <summary>Rows [start, start+count) as a new dataset sharing nothing with this one.</summary>
    public ImageDataset Slice(long start, long count) => this with
    {
        Images = Images.narrow(0, start, count).clone(),
        Labels = Labels.narrow(0, start, count).clone(),
        ConceptLabels = ConceptLabels?.narrow(0, start, count).clone(),
        ConceptMasks = ConceptMasks?.narrow(0, start, count).clone(),
        Captions = Captions?.Skip((int)start).Take((int)count).ToList(),
    };

    sealed record Meta(string name, IReadOnlyList<string> class_names, IReadOnlyList<string>? concept_names, IReadOnlyList<string>? captions);

    /// <summary>Stores the dataset as one artifact (content-derived id).</summary>
    public Task<Contracts.ArtifactInfo> SaveAsync(ArtifactStore store, CancellationToken ct = default)
    {
        var tensors = new Dictionary<string, torch.Tensor> { ["images"] = Images, ["labels"] = Labels };
        if (ConceptLabels is not null) tensors["concept_labels"] = ConceptLabels;
        if (ConceptMasks is not null) tensors["concept_masks"] = ConceptMasks;
        var meta = JsonSerializer.Serialize(new Meta(Name, ClassNames, ConceptNames, Captions));
        return store.PutAsync(Kind, tensors, meta, new Dictionary<string, string> { ["name"] = Name }, ct);
    }

    /// <summary>Loads a dataset artifact whole.</summary>
    public static ImageDataset Load(ArtifactReader reader)
    {
        if (reader.Info.Ref.Kind != Kind)
            throw new Contracts.InvalidInputException("dataset", $"artifact {reader.Info.Ref.Id} is a '{reader.Info.Ref.Kind}', not a dataset");
        var meta = JsonSerializer.Deserialize<Meta>(reader.Info.MetadataJson) ?? throw new InvalidDataException("dataset metadata missing");
        return new ImageDataset(meta.name, reader.Read("images"), reader.Read("labels"), meta.class_names,
            reader.Has("concept_labels") ? reader.Read("concept_labels") : null, meta.concept_names,
            reader.Has("concept_masks") ? reader.Read("concept_masks") : null, meta.captions);
    }

    /// <summary>Takes every tensor out of the current dispose scope (the caller then owns the dataset).</summary>
    public ImageDataset DetachFromDisposeScope()
    {
        Images.DetachFromDisposeScope(); Labels.DetachFromDisposeScope();
        ConceptLabels?.DetachFromDisposeScope(); ConceptMasks?.DetachFromDisposeScope();
        return this;
    }

    public void Dispose()
    {
        Images.Dispose(); Labels.Dispose(); ConceptLabels?.Dispose(); ConceptMasks?.Dispose();
    }
}
