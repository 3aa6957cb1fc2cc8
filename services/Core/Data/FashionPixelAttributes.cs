namespace ConceptSuite.Core.Data;

/// <summary>
/// Visible attributes of one Fashion-MNIST image measured from its pixels (28×28 grey, the
/// garment bright on a black background), deterministic and per image — unlike the class-level
/// attribute table of the bottleneck stage, two pullovers can differ here. From the silhouette
/// (pixels above <see cref="Foreground"/>) and the intensities inside it:
/// <list type="bullet">
/// <item>tone: mean silhouette intensity below 0.45 → "dark", above 0.75 → "light" (quartiles of the training images);</item>
/// <item>surface (garments and bags): mean absolute horizontal and vertical differences over interior
/// pixels (all four neighbours in the silhouette), the directional high-frequency energy; one
/// direction over 1.8× the other with total over 0.14 → "striped", total over 0.2 → "patterned",
/// total under 0.08 → "plain";</item>
/// <item>sleeves (t-shirt, pullover, coat, shirt): silhouette width at 80 % of the height over the width
/// at 20 %: arms hanging beside the body keep the width (≥ 0.95 → "long-sleeved"), short sleeves
/// leave the lower body narrower (≤ 0.8 → "short-sleeved");</item>
/// <item>width (garments and bags): bounding-box width over height; garments under 0.6 → "narrow",
/// over 0.82 → "wide"; bags under 1.0 → "narrow", over 1.4 → "wide";</item>
/// <item>height (sandal, sneaker, ankle boot): silhouette height ≥ 20 rows → "high", ≤ 14 → "low".</item>
/// </list>
/// Thresholds were read off the quartiles of the first 5 000 training images per class. An
/// attribute that does not apply or sits between its thresholds is left out.
/// </summary>
public static class FashionPixelAttributes
{
    /// <summary>Intensity above which a pixel belongs to the silhouette.</summary>
    public const int Foreground = 20;

    /// <summary>Every attribute word, in caption order (tone, surface, sleeves, width, height).</summary>
    public static readonly IReadOnlyList<string> Words =
        ["dark", "light", "plain", "patterned", "striped", "long-sleeved", "short-sleeved", "narrow", "wide", "high", "low"];

    /// <summary>The measured quantities behind the words.</summary>
    public readonly record struct Measures(double Brightness, double EnergyX, double EnergyY, double SleeveRatio, double Aspect, int Height, int Width);

    /// <summary>Measures one image (row-major bytes, side × side).</summary>
    public static Measures Measure(ReadOnlySpan<byte> image, int side = 28)
    {
        if (image.Length != side * side) throw new ArgumentException($"image has {image.Length} pixels, expected {side}×{side}");
        var px = image.ToArray();
        int top = side, bottom = -1, left = side, right = -1, count = 0;
        double sum = 0;
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++)
            {
                byte v = image[y * side + x];
                if (v <= Foreground) continue;
                count++; sum += v;
                top = Math.Min(top, y); bottom = Math.Max(bottom, y); left = Math.Min(left, x); right = Math.Max(right, x);
            }
        if (count == 0) return new Measures(0, 0, 0, 0, 0, 0, 0);
        int h = bottom - top + 1, w = right - left + 1;
        bool In(int y, int x) => y >= 0 && y < side && x >= 0 && x < side && px[y * side + x] > Foreground;
        bool Interior(int y, int x) => In(y, x) && In(y - 1, x) && In(y + 1, x) && In(y, x - 1) && In(y, x + 1);
        double ex = 0, ey = 0;
        int nx = 0, ny = 0;
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++)
            {
                if (!Interior(y, x)) continue;
                if (x + 1 < side && Interior(y, x + 1)) { ex += Math.Abs(image[y * side + x + 1] - image[y * side + x]); nx++; }
                if (y + 1 < side && Interior(y + 1, x)) { ey += Math.Abs(image[(y + 1) * side + x] - image[y * side + x]); ny++; }
            }
        int RowWidth(int y) { int n = 0; for (int x = 0; x < side; x++) if (In(y, x)) n++; return n; }
        int upper = RowWidth(top + (int)(0.2 * h)), lower = RowWidth(top + (int)(0.8 * h));
        return new Measures(sum / count / 255.0, nx > 0 ? ex / nx / 255.0 : 0, ny > 0 ? ey / ny / 255.0 : 0,
            upper > 0 ? (double)lower / upper : 0, (double)w / h, h, w);
    }

    /// <summary>The attribute words of one image of class <paramref name="label"/> (Fashion-MNIST's 0–9), in caption order.</summary>
    public static List<string> Describe(ReadOnlySpan<byte> image, int label, int side = 28) => Describe(Measure(image, side), label);

    /// <summary>The attribute words for measures of an image of class <paramref name="label"/>.</summary>
    public static List<string> Describe(Measures m, int label)
    {
        var words = new List<string>();
        if (m.Height == 0) return words;
        bool garment = label is 0 or 1 or 2 or 3 or 4 or 6, top = label is 0 or 2 or 4 or 6, bag = label == 8, shoe = label is 5 or 7 or 9;
        if (m.Brightness < 0.45) words.Add("dark");
        else if (m.Brightness > 0.75) words.Add("light");
        if (garment || bag)
        {
            double total = m.EnergyX + m.EnergyY;
            double ratio = Math.Max(m.EnergyX, m.EnergyY) / Math.Max(1e-9, Math.Min(m.EnergyX, m.EnergyY));
            if (ratio > 1.8 && total > 0.14) words.Add("striped");
            else if (total > 0.2) words.Add("patterned");
            else if (total < 0.08) words.Add("plain");
        }
        if (top)
        {
            if (m.SleeveRatio >= 0.95) words.Add("long-sleeved");
            else if (m.SleeveRatio <= 0.8) words.Add("short-sleeved");
        }
        if (garment)
        {
            if (m.Aspect < 0.6) words.Add("narrow");
            else if (m.Aspect > 0.82) words.Add("wide");
        }
        else if (bag)
        {
            if (m.Aspect < 1.0) words.Add("narrow");
            else if (m.Aspect > 1.4) words.Add("wide");
        }
        if (shoe)
        {
            if (m.Height >= 20) words.Add("high");
            else if (m.Height <= 14) words.Add("low");
        }
        return words;
    }

    /// <summary>"a photo of a dark striped long-sleeved pullover": the attribute words before the class name.</summary>
    public static string Caption(IReadOnlyList<string> attributes, string className) =>
        attributes.Count == 0 ? $"a photo of a {className}" : $"a photo of a {string.Join(' ', attributes)} {className}";
}
