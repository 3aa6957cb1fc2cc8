using ConceptSuite.Contracts;
using SkiaSharp;
using TorchSharp;

namespace ConceptSuite.Embedding.Images;

/// <summary>Decodes encoded images (PNG, JPEG, BMP, GIF, WebP) with SkiaSharp into uint8 tensors.</summary>
public static class ImageCodec
{
    /// <summary>
    /// Decodes <paramref name="data"/> to uint8 [channels, H, W] (channels 3: RGB; 1: luminance
    /// 0.299 R + 0.587 G + 0.114 B, rounded). Throws naming <paramref name="field"/> when the bytes
    /// are not a decodable image or a side exceeds <paramref name="maxSide"/>.
    /// </summary>
    public static torch.Tensor Decode(ReadOnlySpan<byte> data, int channels, int maxSide, string field)
    {
        if (data.Length == 0) throw new InvalidInputException(field, "image is empty");
        if (channels is not (1 or 3)) throw new InvalidInputException("channels", $"must be 1 or 3, got {channels}");
        using var skData = SKData.CreateCopy(data);
        using var codec = SKCodec.Create(skData) ?? throw new InvalidInputException(field, "not a decodable image (PNG, JPEG, BMP, GIF or WebP)");
        var info = codec.Info;
        if (info.Width <= 0 || info.Height <= 0 || info.Width > maxSide || info.Height > maxSide)
            throw new InvalidInputException(field, $"image is {info.Width}x{info.Height}; sides must be in [1, {maxSide}]");
        var target = new SKImageInfo(info.Width, info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var bitmap = new SKBitmap(target);
        var r = codec.GetPixels(target, bitmap.GetPixels());
        if (r is not (SKCodecResult.Success or SKCodecResult.IncompleteInput))
            throw new InvalidInputException(field, $"image could not be decoded ({r})");
        var rgba = torch.tensor(bitmap.GetPixelSpan().ToArray(), torch.ScalarType.Byte).view(info.Height, info.Width, 4);
        var rgb = rgba.narrow(2, 0, 3).permute(2, 0, 1);
        if (channels == 3) return rgb.contiguous();
        var w = torch.tensor(new float[] { 0.299f, 0.587f, 0.114f }).view(3, 1, 1);
        return (rgb.to_type(torch.ScalarType.Float32) * w).sum(0, keepdim: true).round().clamp(0, 255).to_type(torch.ScalarType.Byte);
    }

    /// <summary>Encodes uint8 [C, H, W] (C 1 or 3) as PNG.</summary>
    public static byte[] EncodePng(torch.Tensor chw)
    {
        long c = chw.shape[0], h = chw.shape[1], w = chw.shape[2];
        var hwc = (c == 1 ? chw.expand(3, h, w) : chw).permute(1, 2, 0).contiguous();
        var rgba = torch.cat([hwc, torch.full(h, w, 1, (byte)255, torch.ScalarType.Byte)], 2).contiguous();
        var info = new SKImageInfo((int)w, (int)h, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var bitmap = new SKBitmap(info);
        rgba.bytes.CopyTo(bitmap.GetPixelSpan());
        using var image = SKImage.FromBitmap(bitmap);
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        return png.ToArray();
    }
}
