using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Generate.Images;

/// <summary>PNG encoding of generated images (values in [−1, 1], [3,H,W] or [N,3,H,W]) with SkiaSharp.</summary>
public static class PngImages
{
    /// <summary>One image as PNG, each pixel drawn as a scale×scale block.</summary>
    public static byte[] Encode(Tensor image, int scale = 1) => Grid(image.dim() == 3 ? image.unsqueeze(0) : image, 1, scale);

    /// <summary>Images as a grid of <paramref name="columns"/> columns with a one-pixel (scaled) white gutter.</summary>
    public static byte[] Grid(Tensor images, int columns, int scale = 1)
    {
        using var scope = NewDisposeScope();
        var bytes = ToBytes(images); // [N,H,W,3] uint8
        int n = (int)images.shape[0], h = (int)images.shape[2], w = (int)images.shape[3];
        int cols = Math.Max(1, Math.Min(columns, n)), rows = (n + cols - 1) / cols;
        int cw = (w + 1) * scale, ch = (h + 1) * scale;
        using var bmp = new SKBitmap(cols * cw - scale, rows * ch - scale, SKColorType.Rgba8888, SKAlphaType.Opaque);
        bmp.Erase(SKColors.White);
        var px = bytes.data<byte>().ToArray();
        for (int i = 0; i < n; i++)
        {
            int ox = i % cols * cw, oy = i / cols * ch;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    long o = (((long)i * h + y) * w + x) * 3;
                    var c = new SKColor(px[o], px[o + 1], px[o + 2]);
                    for (int dy = 0; dy < scale; dy++)
                        for (int dx = 0; dx < scale; dx++)
                            bmp.SetPixel(ox + x * scale + dx, oy + y * scale + dy, c);
                }
        }
        using var img = SKImage.FromBitmap(bmp);
        using var data = img.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>Decodes a PNG to uint8 [3,H,W].</summary>
    public static Tensor Decode(byte[] png)
    {
        using var bmp = SKBitmap.Decode(png) ?? throw new Contracts.InvalidInputException("png", "is not a decodable image");
        var data = new byte[3 * bmp.Width * bmp.Height];
        for (int y = 0; y < bmp.Height; y++)
            for (int x = 0; x < bmp.Width; x++)
            {
                var c = bmp.GetPixel(x, y);
                int o = y * bmp.Width + x, plane = bmp.Width * bmp.Height;
                data[o] = c.Red; data[plane + o] = c.Green; data[2 * plane + o] = c.Blue;
            }
        return tensor(data, ScalarType.Byte).reshape(3, bmp.Height, bmp.Width);
    }

    /// <summary>[−1, 1] float → uint8 [N,H,W,3].</summary>
    static Tensor ToBytes(Tensor images) =>
        ((images.detach().cpu().to_type(ScalarType.Float32).clamp(-1, 1) + 1) * 127.5).round().to_type(ScalarType.Byte).permute(0, 2, 3, 1).contiguous();
}
