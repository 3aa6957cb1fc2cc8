using System.Text.Json;
using ConceptSuite.Contracts;

namespace ConceptSuite.Embedding.Models;

/// <summary>The metadata JSON of a stored model artifact, read as <typeparamref name="T"/> after its kind is checked.</summary>
public static class ArtifactMetadata
{
    /// <summary>INVALID_ARGUMENT naming <paramref name="field"/> for another kind, unparsable or empty metadata.</summary>
    public static T Read<T>(ArtifactInfo info, string kind, string what, string field) where T : class
    {
        var id = info.Ref.Id;
        if (info.Ref.Kind != kind) throw new InvalidInputException(field, $"artifact {id} is a '{info.Ref.Kind}', not a {what}");
        T? meta;
        try { meta = JsonSerializer.Deserialize<T>(info.MetadataJson); }
        catch (JsonException e) { throw new InvalidInputException(field, $"{what} {id}: metadata is not valid ({e.Message})"); }
        return meta ?? throw new InvalidInputException(field, $"{what} {id}: metadata is empty");
    }
}
