using ConceptSuite.Contracts;
using ConceptSuite.Core.Methods;

namespace ConceptSuite.Embedding.Methods;

/// <summary>
/// What a built-in network is built for: images [Channels, Height, Width] and the number of
/// classes of its head. Taken from the training data set (or a stored backbone's metadata),
/// handed to the family as context quantities.
/// </summary>
public sealed record BackboneShape(int Channels, int Height, int Width, int Classes)
{
    /// <summary>Largest image side a built-in network is built for (its layer sizes grow with it).</summary>
    public const int MaxSide = 256;
    /// <summary>Most classes of a built-in network's head.</summary>
    public const int MaxClasses = 10_000;

    /// <summary>
    /// Checks every size before a network is built from it (a training data set, or a stored
    /// backbone's metadata): INVALID_ARGUMENT naming <paramref name="field"/> and the range.
    /// </summary>
    public BackboneShape Check(string field)
    {
        if (Channels is < 1 or > 4) throw new InvalidInputException(field, $"channels {Channels} outside [1, 4]");
        if (Height is < 4 or > MaxSide || Width is < 4 or > MaxSide)
            throw new InvalidInputException(field, $"image size {Height}x{Width} outside [4, {MaxSide}] per side for a built-in network");
        if (Classes is < 1 or > MaxClasses) throw new InvalidInputException(field, $"classes {Classes} outside [1, {MaxClasses}]");
        return this;
    }

    /// <summary>The shape as the family's context quantities.</summary>
    public IReadOnlyDictionary<string, long> AsContext() =>
        new Dictionary<string, long> { ["channels"] = Channels, ["height"] = Height, ["width"] = Width, ["classes"] = Classes };

    public static BackboneShape From(OptionValues o) =>
        new((int)o.Context["channels"], (int)o.Context["height"], (int)o.Context["width"], (int)o.Context["classes"]);
}
