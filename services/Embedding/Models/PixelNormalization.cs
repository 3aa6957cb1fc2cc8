using TorchSharp;

namespace ConceptSuite.Embedding.Models;

/// <summary>
/// How to normalise 0-255 pixels before a model: channels reversed when <paramref name="Bgr"/>
/// (RGB → BGR), then x * scale, then (x - mean[c]) / std[c] (one value or one per channel).
/// </summary>
public sealed record PixelNormalization(float Scale, float[] Mean, float[] Std, bool Bgr = false)
{
    /// <summary>float32 [N, C, H, W] pixels (0-255, RGB) → the model's input (contiguous float32).</summary>
    public torch.Tensor Apply(torch.Tensor pixels)
    {
        var x = pixels.to_type(torch.ScalarType.Float32);
        if (Bgr && x.shape[1] == 3) x = x.flip(1);
        x = x * Scale;
        if (Mean.Length > 0) x = x - torch.tensor(Mean).view(1, -1, 1, 1);
        if (Std.Length > 0) x = x / torch.tensor(Std).view(1, -1, 1, 1);
        return x.contiguous();
    }

    /// <summary>What <see cref="Apply"/> does, for ModelInputSpec.preprocessing.</summary>
    public string Describe() =>
        (Bgr ? "RGB->BGR, " : "") + $"x*{Scale}" +
        (Mean.Length > 0 ? $", minus mean [{string.Join(", ", Mean)}]" : "") +
        (Std.Length > 0 ? $", over std [{string.Join(", ", Std)}]" : "");
}
