using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using TorchSharp;

namespace ConceptSuite.Discovery.Abstractions;

/// <summary>Spatial layouts: [N, C, H, W] and [N, T, D] ↔ sample rows.</summary>
public static class SampleLayout
{
    /// <summary>Width of one sample for an activation shape (without the row dimension).</summary>
    public static int Dim(IReadOnlyList<long> trailing, string field) => trailing.Count switch
    {
        1 => checked((int)trailing[0]),
        2 => checked((int)trailing[1]),
        3 => checked((int)trailing[0]),
        _ => throw new InvalidInputException(field, $"activations must be [N, D], [N, T, D] or [N, C, H, W]; got rank {trailing.Count + 1}"),
    };

    /// <summary>Samples per row (H·W, T or 1).</summary>
    public static long Positions(IReadOnlyList<long> trailing) => trailing.Count switch
    {
        2 => trailing[0],
        3 => trailing[1] * trailing[2],
        _ => 1,
    };

    /// <summary>[n, D] | [n, T, D] | [n, C, H, W] → [samples, D].</summary>
    public static torch.Tensor ToSamples(torch.Tensor x) => x.dim() switch
    {
        2 => x,
        3 => x.reshape(-1, x.shape[2]),
        4 => x.permute(0, 2, 3, 1).reshape(-1, x.shape[1]),
        _ => throw new InvalidInputException("tensor.shape", $"must be [n, D], [n, T, D] or [n, C, H, W]; got rank {x.dim()}"),
    };

    /// <summary>Samples [n·P, K] back to the layout of <paramref name="like"/> with K channels.</summary>
    public static torch.Tensor FromSamples(torch.Tensor samples, long[] likeShape)
    {
        long k = samples.shape[1];
        return likeShape.Length switch
        {
            2 => samples,
            3 => samples.reshape(likeShape[0], likeShape[1], k),
            4 => samples.reshape(likeShape[0], likeShape[2], likeShape[3], k).permute(0, 3, 1, 2).contiguous(),
            _ => throw new InvalidInputException("tensor.shape", $"unsupported rank {likeShape.Length}"),
        };
    }

    /// <summary>Channel dim of a layout (1 for [n, C, H, W], last otherwise).</summary>
    public static int ChannelDim(int rank) => rank == 4 ? 1 : rank - 1;
}
