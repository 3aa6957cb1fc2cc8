using TorchSharp;

namespace ConceptSuite.Generate.Data;

/// <summary>What <see cref="ShapeScenes"/> draws.</summary>
public sealed record ShapeSceneOptions
{
    public int ImageSize { get; init; } = 16;
    public string[] Colours { get; init; } = ["red", "green", "blue", "yellow"];
    public string[] Shapes { get; init; } = ["square", "circle", "triangle"];
    /// <summary>Sizes drawn; one entry means every shape has that size (and no size concept varies).</summary>
    public string[] Sizes { get; init; } = ["small", "large"];
    public string[] Backgrounds { get; init; } = ["plain", "checkered"];
}

/// <summary>
/// Procedural concept scenes: one coloured shape (square, circle, triangle) of a size (small,
/// large) at a random position on a plain or checkered grey background, with its ground-truth
/// concept labels. Colour jitter of ±0.06 per channel keeps the set from being a lookup table.
/// Deterministic in (n, seed, options).
/// </summary>
public static class ShapeScenes
{
    static readonly Dictionary<string, float[]> Palette = new()
    {
        ["red"] = [0.88f, 0.14f, 0.12f], ["green"] = [0.12f, 0.78f, 0.20f], ["blue"] = [0.16f, 0.30f, 0.95f],
        ["yellow"] = [0.95f, 0.86f, 0.10f], ["magenta"] = [0.88f, 0.12f, 0.85f], ["cyan"] = [0.10f, 0.85f, 0.90f],
    };

    public static IReadOnlyCollection<string> KnownColours => Palette.Keys;

    /// <summary>Concept names in label order: colours, shapes, sizes (when several), backgrounds (when several).</summary>
    public static string[] ConceptNames(ShapeSceneOptions o) =>
        [.. o.Colours, .. o.Shapes, .. (o.Sizes.Length > 1 ? o.Sizes : []), .. (o.Backgrounds.Length > 1 ? o.Backgrounds : [])];

    public static ConceptImages Generate(int n, int seed, ShapeSceneOptions? options = null)
    {
        var o = options ?? new ShapeSceneOptions();
        foreach (var c in o.Colours)
            if (!Palette.ContainsKey(c)) throw new Contracts.InvalidInputException("colours", $"unknown colour '{c}'; known: {string.Join(", ", Palette.Keys)}");
        int s = o.ImageSize;
        var names = ConceptNames(o);
        var index = names.Select((w, i) => (w, i)).ToDictionary(x => x.w, x => x.i);
        var pixels = new byte[(long)n * 3 * s * s];
        var labels = new float[(long)n * names.Length];
        var rng = new Random(seed);
        var img = new float[3 * s * s];
        for (int i = 0; i < n; i++)
        {
            string colour = o.Colours[rng.Next(o.Colours.Length)], shape = o.Shapes[rng.Next(o.Shapes.Length)];
            string size = o.Sizes[rng.Next(o.Sizes.Length)], bg = o.Backgrounds[rng.Next(o.Backgrounds.Length)];
            foreach (var w in new[] { colour, shape, size, bg })
                if (index.TryGetValue(w, out var k)) labels[(long)i * names.Length + k] = 1f;
            // Background: mid grey, or a checkerboard of two greys in 2×2 cells.
            for (int y = 0; y < s; y++)
                for (int x = 0; x < s; x++)
                {
                    float g = bg == "checkered" ? ((((x >> 1) + (y >> 1)) & 1) == 0 ? 0.30f : 0.60f) : 0.45f;
                    for (int c = 0; c < 3; c++) img[(c * s + y) * s + x] = g;
                }
            var rgb = Palette[colour].Select(v => Math.Clamp(v + (float)(rng.NextDouble() - 0.5) * 0.12f, 0f, 1f)).ToArray();
            float r = (size is "small" ? 0.17f : 0.30f) * s;
            float cx = (float)(r + rng.NextDouble() * (s - 1 - 2 * r)), cy = (float)(r + rng.NextDouble() * (s - 1 - 2 * r));
            for (int y = 0; y < s; y++)
                for (int x = 0; x < s; x++)
                {
                    float dx = x - cx, dy = y - cy;
                    bool inside = shape switch
                    {
                        "square" => Math.Abs(dx) <= r * 0.85f && Math.Abs(dy) <= r * 0.85f,
                        "circle" => dx * dx + dy * dy <= r * r,
                        // Upward triangle: apex at the top, base at the bottom, width grows linearly.
                        "triangle" => dy >= -r && dy <= r && Math.Abs(dx) <= (dy + r) * 0.5f + 0.5f,
                        "cross" => (Math.Abs(dx) <= r * 0.3f && Math.Abs(dy) <= r) || (Math.Abs(dy) <= r * 0.3f && Math.Abs(dx) <= r),
                        _ => throw new Contracts.InvalidInputException("shapes", $"unknown shape '{shape}'"),
                    };
                    if (inside) for (int c = 0; c < 3; c++) img[(c * s + y) * s + x] = rgb[c];
                }
            for (int j = 0; j < img.Length; j++) pixels[(long)i * img.Length + j] = (byte)Math.Round(img[j] * 255f);
        }
        return new ConceptImages(
            torch.tensor(pixels, torch.ScalarType.Byte).reshape(n, 3, s, s),
            torch.tensor(labels).reshape(n, names.Length),
            names);
    }
}
