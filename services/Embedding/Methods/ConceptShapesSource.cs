using ConceptSuite.Contracts;
using ConceptSuite.Core.Data;
using ConceptSuite.Core.Methods;
using ConceptSuite.Core.Limits;

namespace ConceptSuite.Embedding.Methods;

/// <summary>
/// Procedural concept shapes (<see cref="ConceptShapes"/>): RGB scenes of a shape drawn from
/// independent factors (shape, colour, size, texture, background, position), with ground-truth
/// concept labels and per-concept pixel masks, so metrics that need ground truth can be computed.
/// Needs the number of images (header.limit) and draws from header.seed.
/// </summary>
public sealed class ConceptShapesSource(ConceptShapesSourceOptions options) : IDatasetSource
{
    public ImageDataset Load(int limit, long seed)
    {
        if (limit <= 0) throw new InvalidInputException("header.limit", "concept-shapes needs the number of images (> 0)");
        return ConceptShapes.Generate(limit, unchecked((int)seed), new ConceptShapesOptions
        {
            Size = options.Size, LabelFactor = options.LabelFactor, SpuriousBackground = options.Spurious, ColourJitter = options.ColourJitter,
        });
    }

    public long BytesFor(long limit) => RequestBudget.Product(limit, ConceptShapes.BytesPerRow(options.Size));
}

/// <summary>Options of <see cref="ConceptShapesSource"/>; the defaults are the generator's.</summary>
public sealed record ConceptShapesSourceOptions(int Size, string LabelFactor, double Spurious, int ColourJitter)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Int("size", 32, "image side in pixels (RGB, size × size)", 8, 256),
        OptionSpec.Choice("label_factor", "shape", "the factor that is the class label", "shape", "colour"),
        OptionSpec.Float("spurious", 0, "probability that the background is tied to the class (a spurious cue)", 0, 1),
        OptionSpec.Int("colour_jitter", 20, "per-channel colour jitter, levels of 255", 0, 255),
    ];

    public static ConceptShapesSourceOptions From(OptionValues o) =>
        new(o.Int("size"), o.Choice("label_factor"), o.Float("spurious"), o.Int("colour_jitter"));
}
