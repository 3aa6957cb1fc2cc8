using System.Text.Json;
using System.Text.Json.Serialization;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Data;
using TorchSharp;

namespace ConceptSuite.Embedding.Data;

/// <summary>
/// Dataset artifacts: tensors "images" uint8 [N, C, H, W], "labels" int64 [N], optional
/// "concept_labels" float32 [N, K] and "concept_masks" uint8 [N, K, H, W]; metadata
/// {"name", "class_names", "concept_names"}.
/// </summary>
public static class DatasetArtifacts
{
    public const string Kind = "dataset";

    /// <summary>Validates a dataset and stores it (as Core/Data's <see cref="ImageDataset"/> does).</summary>
    public static Task<ArtifactInfo> WriteAsync(ArtifactStore store, ImageDataset d, CancellationToken ct = default) =>
        WriteAsync(store, d.Name, d.Images, d.Labels, d.ClassNames, d.ConceptLabels, d.ConceptNames, d.ConceptMasks, d.Captions, ct);

    /// <summary>Validates and stores a dataset.</summary>
    public static Task<ArtifactInfo> WriteAsync(ArtifactStore store, string name, torch.Tensor images, torch.Tensor labels,
        IReadOnlyList<string> classNames, torch.Tensor? conceptLabels = null, IReadOnlyList<string>? conceptNames = null,
        torch.Tensor? conceptMasks = null, IReadOnlyList<string>? captions = null, CancellationToken ct = default)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new InvalidInputException("name", "is required");
        if (images.dtype != torch.ScalarType.Byte || images.dim() != 4)
            throw new InvalidInputException("images", $"must be uint8 [N, C, H, W], got {images.dtype} [{string.Join(", ", images.shape)}]");
        long n = images.shape[0];
        if (n == 0) throw new InvalidInputException("images", "dataset has no rows");
        if (images.shape[1] is not (1 or 3)) throw new InvalidInputException("images", $"must have 1 or 3 channels, got {images.shape[1]}");
        if (labels.dtype != torch.ScalarType.Int64 || labels.dim() != 1 || labels.shape[0] != n)
            throw new InvalidInputException("labels", $"must be int64 [{n}], got {labels.dtype} [{string.Join(", ", labels.shape)}]");
        if (labels.min().item<long>() < 0) throw new InvalidInputException("labels", "must be >= 0");
        if (classNames.Count > 0 && labels.max().item<long>() >= classNames.Count)
            throw new InvalidInputException("labels", $"must be < {classNames.Count} (the number of class names)");
        int k = conceptNames?.Count ?? 0;
        torch.Tensor? masks = null;
        if (conceptLabels is not null)
        {
            if (conceptLabels.dtype != torch.ScalarType.Float32 || conceptLabels.dim() != 2 || conceptLabels.shape[0] != n || conceptLabels.shape[1] != k)
                throw new InvalidInputException("concept_labels", $"must be float32 [{n}, {k}] (k = number of concept names)");
            if (!conceptLabels.isfinite().all().item<bool>()) throw new InvalidInputException("concept_labels", "NaN and Inf are not allowed");
        }
        if (conceptMasks is not null)
        {
            var m = conceptMasks.dtype == torch.ScalarType.Bool ? conceptMasks.to_type(torch.ScalarType.Byte) : conceptMasks;
            if (m.dtype != torch.ScalarType.Byte || m.dim() != 4 || m.shape[0] != n || m.shape[1] != k || m.shape[2] != images.shape[2] || m.shape[3] != images.shape[3])
                throw new InvalidInputException("concept_masks", $"must be uint8 [{n}, {k}, {images.shape[2]}, {images.shape[3]}]");
            masks = m;
        }
        var dataset = new ImageDataset(name, images, labels, classNames, conceptLabels, conceptNames, masks, captions);
        return dataset.SaveAsync(store, ct);
    }

    /// <summary>Opens a dataset artifact (NOT_FOUND when absent; INVALID_ARGUMENT when not a dataset).</summary>
    public static (ArtifactReader Reader, DatasetMeta Meta) Open(ArtifactStore store, string id, string field)
    {
        var info = store.GetInfo(id, field);
        if (info.Ref.Kind != Kind) throw new InvalidInputException(field, $"artifact {id} is a '{info.Ref.Kind}', not a dataset");
        var meta = JsonSerializer.Deserialize<DatasetMeta>(info.MetadataJson) ?? new DatasetMeta();
        var reader = store.Open(id, field);
        if (!reader.Has("images") || !reader.Has("labels")) { reader.Dispose(); throw new InvalidInputException(field, $"dataset {id} lacks images or labels"); }
        return (reader, meta);
    }
}
