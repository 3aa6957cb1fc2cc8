using ConceptSuite.Contracts;
using TorchSharp;

namespace ConceptSuite.Embedding.Images;

/// <summary>Brings pixel tensors to a model's input: channel count, then size (bilinear).</summary>
public static class ImageConform
{
    /// <summary>
    /// uint8 or float32 [N, c, h, w] (0-255) → float32 [N, C, H, W] (0-255). Grey (c = 1) is
    /// replicated to RGB; RGB(A) becomes grey as 0.299 R + 0.587 G + 0.114 B; alpha is dropped;
    /// sizes other than H×W are resized with bilinear interpolation (antialiased when shrinking).
    /// </summary>
    public static torch.Tensor ToModelInput(torch.Tensor images, int channels, int height, int width, string field)
    {
        if (images.dim() != 4) throw new InvalidInputException(field, $"images must be [N, C, H, W], got rank {images.dim()}");
        long c = images.shape[1];
        if (c is not (1 or 3 or 4)) throw new InvalidInputException(field, $"images must have 1, 3 or 4 channels, got {c}");
        if (images.shape[2] <= 0 || images.shape[3] <= 0) throw new InvalidInputException(field, "image height and width must be > 0");
        var x = images.to_type(torch.ScalarType.Float32);
        if (c == 4) { x = x.narrow(1, 0, 3); c = 3; }
        if (c == 1 && channels == 3) x = x.expand(-1, 3, -1, -1);
        else if (c == 3 && channels == 1)
            x = (x * torch.tensor(new float[] { 0.299f, 0.587f, 0.114f }).view(1, 3, 1, 1)).sum(1, keepdim: true);
        if (x.shape[2] != height || x.shape[3] != width)
        {
            bool shrink = x.shape[2] > height || x.shape[3] > width;
            x = torch.nn.functional.interpolate(x, [height, width], mode: torch.InterpolationMode.Bilinear,
                align_corners: false, antialias: shrink);
        }
        return x.contiguous();
    }
}
