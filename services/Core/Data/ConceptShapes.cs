using TorchSharp;

namespace ConceptSuite.Core.Data;

/// <summary>Options of the concept-shapes generator.</summary>
public sealed record ConceptShapesOptions
{
    /// <summary>Image side in pixels (images are RGB, Size × Size).</summary>
    public int Size { get; init; } = 32;
    /// <summary>Which factor is the class label: "shape" (3 classes) or "colour" (4 classes).</summary>
    public string LabelFactor { get; init; } = "shape";
    /// <summary>
    /// Probability that the background pattern is tied to the class (background index = class
    /// index mod 3) instead of drawn at random: 0 gives no shortcut, 1 a perfect spurious cue.
    /// </summary>
    public double SpuriousBackground { get; init; }
    /// <summary>Per-channel colour jitter (± this many levels of 255).</summary>
    public int ColourJitter { get; init; } = 20;
    /// <summary>
    /// Values drawn per factor, by factor name ("shape", "colour", "size", "texture",
    /// "background", "position"); a factor not listed draws all its values, one listed value fixes
    /// it (e.g. colour-only scenes: every factor but colour fixed). Null draws everything, with the
    /// same random sequence as before subsets existed.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>>? Subsets { get; init; }
}

/// <summary>The factors of one concept-shapes image (indices into the factor vocabularies).</summary>
public readonly record struct ShapeFactors(int Shape, int Colour, int Size, int Texture, int Background, int Position);

/// <summary>
/// Procedural images with known concepts (in the spirit of the concept–feature-link data of
/// "Can we Constrain CBMs to Learn Semantically Meaningful Input Features?"): one shape per image
/// with factors shape, colour, size, texture, background pattern and horizontal position. Every
/// image comes with per-instance binary concept labels (one per factor value) and an exact pixel
/// mask per concept: the shape's pixels for shape/colour/size/texture/position concepts, the
/// background's pixels for background concepts, zeros for absent concepts. Deterministic by seed.
/// </summary>
public static class ConceptShapes
{
    public static readonly IReadOnlyList<string> Shapes = ["square", "circle", "triangle"];
    public static readonly IReadOnlyList<string> Colours = ["red", "green", "blue", "yellow"];
    public static readonly IReadOnlyList<string> Sizes = ["small", "large"];
    public static readonly IReadOnlyList<string> Textures = ["solid", "striped"];
    public static readonly IReadOnlyList<string> Backgrounds = ["plain", "dotted", "checkered"];
    public static readonly IReadOnlyList<string> Positions = ["left", "right"];

    static readonly byte[][] Rgb = [[220, 40, 40], [40, 190, 60], [50, 80, 230], [230, 210, 40]];

    /// <summary>Concept names in label order: shapes, colours, sizes, textures, "X background", positions (16).</summary>
    public static readonly IReadOnlyList<string> ConceptNames =
        [.. Shapes, .. Colours, .. Sizes, .. Textures, .. Backgrounds.Select(b => b + " background"), .. Positions];

    /// <summary>Index of each factor's first concept in <see cref="ConceptNames"/>.</summary>
    public static int ShapeOffset => 0;
    public static int ColourOffset => 3;
    public static int SizeOffset => 7;
    public static int TextureOffset => 9;
    public static int BackgroundOffset => 11;
    public static int PositionOffset => 14;

    /// <summary>"a small striped red square on the left, dotted background": every factor's value word, so each is nameable.</summary>
    public static string Caption(ShapeFactors f) =>
        $"a {Sizes[f.Size]} {Textures[f.Texture]} {Colours[f.Colour]} {Shapes[f.Shape]} on the {Positions[f.Position]}, {Backgrounds[f.Background]} background";

    /// <summary>Bytes one generated row holds: RGB pixels, one mask per concept, the concept labels (float32) and the label.</summary>
    public static long BytesPerRow(int size) => (3L + ConceptNames.Count) * size * size + 4L * ConceptNames.Count + 8;

    /// <summary>Generates <paramref name="count"/> images with labels, concept labels, masks and captions.</summary>
    public static ImageDataset Generate(int count, int seed, ConceptShapesOptions? options = null)
    {
        var o = options ?? new ConceptShapesOptions();
        if (count <= 0) throw new Contracts.InvalidInputException("count", "must be > 0");
        if (o.Size < 8 || o.Size > 256) throw new Contracts.InvalidInputException("size", "must be in [8, 256]");
        if (o.SpuriousBackground is < 0 or > 1) throw new Contracts.InvalidInputException("spurious_background", "must be in [0, 1]");
        bool byColour = o.LabelFactor switch
        {
            "shape" => false,
            "colour" or "color" => true,
            _ => throw new Contracts.InvalidInputException("label_factor", "must be 'shape' or 'colour'"),
        };
        var draw = DrawnValues(o);
        if (o.SpuriousBackground > 0 && draw[4].Length != Backgrounds.Count)
            throw new Contracts.InvalidInputException("subsets.background", "cannot be narrowed while spurious_background > 0");
        int s = o.Size, k = ConceptNames.Count;
        var rng = new Random(seed);
        // Sizes in long: count · k · s² overflows int from about 6 500 images of 256² (the masks are the largest array).
        if ((long)count * k * s * s > Array.MaxLength)
            throw new Contracts.InvalidInputException("count", $"{count} images of {s}x{s} need {(long)count * k * s * s} mask bytes, over the largest array ({Array.MaxLength}); at most {Array.MaxLength / ((long)k * s * s)} at this size");
        var images = new byte[(long)count * 3 * s * s];
        var masks = new byte[(long)count * k * s * s];
        var concepts = new float[count * k];
        var labels = new long[count];
        var captions = new List<string>(count);
        var shapeMask = new bool[s * s];

        for (int n = 0; n < count; n++)
        {
            var f = new ShapeFactors(Draw(rng, draw[0]), Draw(rng, draw[1]), Draw(rng, draw[2]), Draw(rng, draw[3]), 0, Draw(rng, draw[5]));
            int label = byColour ? f.Colour : f.Shape;
            int background = rng.NextDouble() < o.SpuriousBackground ? label % 3 : Draw(rng, draw[4]);
            f = f with { Background = background };
            labels[n] = label;
            captions.Add(Caption(f));

            // Geometry: half-extent r, centre in the chosen half, fully inside the image.
            double r = (f.Size == 0 ? 0.16 : 0.30) * s;
            double cx = f.Position == 0 ? Uniform(rng, r, s / 2.0) : Uniform(rng, s / 2.0, s - r);
            double cy = Uniform(rng, r, s - r);
            Array.Clear(shapeMask);
            for (int y = 0; y < s; y++)
                for (int x = 0; x < s; x++)
                    shapeMask[y * s + x] = Inside(f.Shape, x + 0.5 - cx, y + 0.5 - cy, r);

            var baseRgb = Rgb[f.Colour];
            Span<int> colour = [Jitter(rng, baseRgb[0], o.ColourJitter), Jitter(rng, baseRgb[1], o.ColourJitter), Jitter(rng, baseRgb[2], o.ColourJitter)];
            int stripe = Math.Max(1, s / 16);
            int img = n * 3 * s * s;
            for (int y = 0; y < s; y++)
            {
                for (int x = 0; x < s; x++)
                {
                    int p = y * s + x;
                    if (shapeMask[p])
                    {
                        bool dark = f.Texture == 1 && (y / stripe) % 2 == 1;
                        for (int c = 0; c < 3; c++) images[img + c * s * s + p] = (byte)(dark ? colour[c] * 2 / 5 : colour[c]);
                    }
                    else
                    {
                        int g = BackgroundLevel(background, x, y, s) + rng.Next(-6, 7);
                        for (int c = 0; c < 3; c++) images[img + c * s * s + p] = (byte)Math.Clamp(g, 0, 255);
                    }
                }
            }

            int[] present = [ShapeOffset + f.Shape, ColourOffset + f.Colour, SizeOffset + f.Size, TextureOffset + f.Texture,
                BackgroundOffset + background, PositionOffset + f.Position];
            foreach (var c in present)
            {
                concepts[n * k + c] = 1;
                bool isBackground = c >= BackgroundOffset && c < PositionOffset;
                int m = (n * k + c) * s * s;
                for (int p = 0; p < s * s; p++) masks[m + p] = (byte)(shapeMask[p] != isBackground ? 1 : 0);
            }
        }

        IReadOnlyList<string> classNames = byColour ? Colours : Shapes;
        return new ImageDataset($"concept-shapes-{seed}", torch.tensor(images, [count, 3, s, s], torch.ScalarType.Byte),
            torch.tensor(labels, [count]), classNames, torch.tensor(concepts, [count, k]), ConceptNames,
            torch.tensor(masks, [count, k, s, s], torch.ScalarType.Byte), captions);
    }

    /// <summary>Recovers the factors of an image from its concept-label row.</summary>
    public static ShapeFactors FactorsOf(ReadOnlySpan<float> conceptRow)
    {
        return new ShapeFactors(Arg(conceptRow, ShapeOffset, 3), Arg(conceptRow, ColourOffset, 4), Arg(conceptRow, SizeOffset, 2),
            Arg(conceptRow, TextureOffset, 2), Arg(conceptRow, BackgroundOffset, 3), Arg(conceptRow, PositionOffset, 2));
    }

    static int Arg(ReadOnlySpan<float> row, int off, int len)
    {
        for (int i = 0; i < len; i++) if (row[off + i] > 0.5f) return i;
        return -1;
    }

    /// <summary>Factor names in <see cref="ShapeFactors"/> order (the keys of <see cref="ConceptShapesOptions.Subsets"/>).</summary>
    public static readonly IReadOnlyList<string> Factors = ["shape", "colour", "size", "texture", "background", "position"];

    /// <summary>The factor's vocabulary by name ("color" is accepted for "colour").</summary>
    public static IReadOnlyList<string> ValuesOf(string factor) => factor switch
    {
        "shape" => Shapes,
        "colour" or "color" => Colours,
        "size" => Sizes,
        "texture" => Textures,
        "background" => Backgrounds,
        "position" => Positions,
        _ => throw new Contracts.InvalidInputException("subsets", $"unknown factor '{factor}'; known: {string.Join(", ", Factors)}"),
    };

    /// <summary>Per factor (in <see cref="Factors"/> order), the indices of the values drawn; validates the subsets.</summary>
    public static int[][] DrawnValues(ConceptShapesOptions o)
    {
        var drawn = Factors.Select(f => Enumerable.Range(0, ValuesOf(f).Count).ToArray()).ToArray();
        foreach (var (factor, values) in o.Subsets ?? new Dictionary<string, IReadOnlyList<string>>())
        {
            var vocabulary = ValuesOf(factor);
            int fi = factor == "color" ? 1 : Factors.ToList().IndexOf(factor);
            if (values.Count == 0 || values.Distinct().Count() != values.Count)
                throw new Contracts.InvalidInputException($"subsets.{factor}", "must list at least one value, each once");
            drawn[fi] = values.Select(v => vocabulary.ToList().IndexOf(v) is var i and >= 0 ? i
                : throw new Contracts.InvalidInputException($"subsets.{factor}", $"unknown value '{v}'; known: {string.Join(", ", vocabulary)}")).ToArray();
        }
        return drawn;
    }

    // A full factor draws rng.Next(count) exactly as the unrestricted generator does.
    static int Draw(Random rng, int[] values) => values[rng.Next(values.Length)];

    static double Uniform(Random rng, double lo, double hi) => lo + rng.NextDouble() * Math.Max(0, hi - lo);

    static int Jitter(Random rng, int v, int j) => Math.Clamp(v + (j > 0 ? rng.Next(-j, j + 1) : 0), 0, 255);

    // Square: |dx|,|dy| <= r. Circle: dx²+dy² <= r². Triangle (apex up): inside the three
    // half-planes of the isosceles triangle with apex (0,-r) and base y = r from -r to r.
    static bool Inside(int shape, double dx, double dy, double r) => shape switch
    {
        0 => Math.Abs(dx) <= r * 0.85 && Math.Abs(dy) <= r * 0.85,
        1 => dx * dx + dy * dy <= r * r,
        _ => dy <= r && dy >= -r && Math.Abs(dx) <= (dy + r) / 2,
    };

    static int BackgroundLevel(int background, int x, int y, int s)
    {
        int cell = Math.Max(2, s / 8);
        return background switch
        {
            0 => 60,
            1 => (x % cell == cell / 2 && y % cell == cell / 2) ? 150 : 55,
            _ => ((x / cell) + (y / cell)) % 2 == 0 ? 35 : 95,
        };
    }
}
