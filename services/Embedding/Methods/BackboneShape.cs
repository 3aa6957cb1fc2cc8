using ConceptSuite.Core.Methods;

namespace ConceptSuite.Embedding.Methods;

/// <summary>
/// What a built-in network is built for: images [Channels, Height, Width] and the number of
/// classes of its head. Taken from the training data set (or a stored backbone's metadata),
/// handed to the family as context quantities.
/// </summary>
public sealed record BackboneShape(int Channels, int Height, int Width, int Classes)
{
    /// <summary>The shape as the family's context quantities.</summary>
    public IReadOnlyDictionary<string, long> AsContext() =>
        new Dictionary<string, long> { ["channels"] = Channels, ["height"] = Height, ["width"] = Width, ["classes"] = Classes };

    public static BackboneShape From(OptionValues o) =>
        new((int)o.Context["channels"], (int)o.Context["height"], (int)o.Context["width"], (int)o.Context["classes"]);
}
