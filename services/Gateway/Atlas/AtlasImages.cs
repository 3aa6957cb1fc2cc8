using SkiaSharp;

namespace ConceptSuite.Gateway.Atlas;

/// <summary>Renders uint8 images [C, H, W] (C = 1 or 3) and attribution maps as PNG with SkiaSharp.</summary>
public static class AtlasImages
{
    /// <summary>An image, each pixel drawn as a scale×scale square (nearest neighbour, no smoothing).</summary>
    public static byte[] Png(ReadOnlySpan<byte> chw, int channels, int height, int width, int scale = 4) =>
        Render(chw, channels, height, width, null, scale);

    /// <summary>
    /// The image in grey with an attribution map [H', W'] (any non-negative scale; resized by
    /// nearest neighbour) laid over it in red–yellow, alpha proportional to the normalized map.
    /// </summary>
    public static byte[] Heatmap(ReadOnlySpan<byte> chw, int channels, int height, int width, ReadOnlySpan<float> map, int mapHeight, int mapWidth, int scale = 4)
    {
        float max = 0;
        foreach (var v in map) if (v > max) max = v;
        var overlay = new float[height * width];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                var v = map[(y * mapHeight / height) * mapWidth + x * mapWidth / width];
                overlay[y * width + x] = max > 0 ? Math.Clamp(v / max, 0, 1) : 0;
            }
        return Render(chw, channels, height, width, overlay, scale);
    }

    static byte[] Render(ReadOnlySpan<byte> chw, int channels, int height, int width, float[]? overlay, int scale)
    {
        if (channels is not (1 or 3)) throw new ArgumentException($"images must have 1 or 3 channels, got {channels}");
        if (chw.Length != channels * height * width) throw new ArgumentException("image bytes do not match [C, H, W]");
        using var bmp = new SKBitmap(new SKImageInfo(width * scale, height * scale, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        int plane = height * width;
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int i = y * width + x;
                byte r = chw[i], g = channels == 3 ? chw[plane + i] : r, b = channels == 3 ? chw[2 * plane + i] : r;
                if (overlay is not null)
                {
                    byte grey = (byte)((r * 77 + g * 150 + b * 29) >> 8);
                    float a = overlay[i] * 0.75f;
                    // red → yellow as the attribution grows
                    r = (byte)(grey * (1 - a) + 255 * a);
                    g = (byte)(grey * (1 - a) + 255 * overlay[i] * a);
                    b = (byte)(grey * (1 - a));
                }
                var c = new SKColor(r, g, b);
                for (int dy = 0; dy < scale; dy++)
                    for (int dx = 0; dx < scale; dx++)
                        bmp.SetPixel(x * scale + dx, y * scale + dy, c);
            }
        using var image = SKImage.FromBitmap(bmp);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}
