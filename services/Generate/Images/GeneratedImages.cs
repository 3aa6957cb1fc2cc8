using ConceptSuite.Contracts;
using ConceptSuite.Core.Tensors;
using TorchSharp;

namespace ConceptSuite.Generate.Images;

/// <summary>Generated images as reply messages: PNG bytes, and on request the image tensor as one block.</summary>
public static class GeneratedImages
{
    /// <summary>
    /// One image [3, H, W] in [−1, 1] as a message that owns copies of its bytes, so it outlives
    /// the tensors (and the dispose scope) it was made from.
    /// </summary>
    public static GeneratedImage Message(int index, string prompt, long seed, torch.Tensor image, bool includeTensor)
    {
        var m = new GeneratedImage { Index = index, Prompt = prompt, Seed = seed, Png = Google.Protobuf.ByteString.CopyFrom(PngImages.Encode(image)) };
        if (includeTensor)
        {
            using var unit = ((image.unsqueeze(0).clamp(-1, 1) + 1) / 2).contiguous();
            // One block whatever its size: the image travels inside its GeneratedImage message.
            m.Image = TensorStreams.Split(unit, "", null, int.MaxValue).Single();
            m.Image.Tensor = TensorCodec.ToMessageCopy(unit);
        }
        return m;
    }
}
