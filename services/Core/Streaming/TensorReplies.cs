using ConceptSuite.Contracts;
using ConceptSuite.Core.Tensors;
using Grpc.Core;
using TorchSharp;

namespace ConceptSuite.Core.Streaming;

/// <summary>
/// Replies with tensors as streams of row blocks: the results are computed synchronously in a
/// dispose scope (<see cref="TensorScope"/>), the scope is closed, and only then are the blocks
/// written (awaited); the result tensors are disposed once the last block is written.
/// </summary>
public static class TensorReplies
{
    /// <summary>Computes the named results and writes them, in order, wrapped by <paramref name="wrap"/>.</summary>
    public static async Task WriteAsync<TResponse>(IAsyncStreamWriter<TResponse> writer, Func<IEnumerable<NamedTensor>> compute,
        int blockBytes, Func<TensorBlock, TResponse> wrap, CancellationToken ct)
    {
        var results = TensorScope.KeepAll(compute);
        try
        {
            await WriteAsync(writer, results, blockBytes, wrap, ct);
        }
        finally
        {
            foreach (var r in results) r.Tensor.Dispose();
        }
    }

    /// <summary>Computes one result tensor and writes it as blocks named <paramref name="name"/>.</summary>
    public static Task WriteAsync(IAsyncStreamWriter<TensorBlock> writer, Func<torch.Tensor> compute, string name,
        int blockBytes, CancellationToken ct) =>
        WriteAsync(writer, () => [new NamedTensor(name, compute())], blockBytes, b => b, ct);

    /// <summary>
    /// Writes tensors the caller owns (and disposes after this returns). A block references its
    /// tensor's memory until written, so nothing may dispose them while this runs.
    /// </summary>
    public static async Task WriteAsync<TResponse>(IAsyncStreamWriter<TResponse> writer, IEnumerable<NamedTensor> tensors,
        int blockBytes, Func<TensorBlock, TResponse> wrap, CancellationToken ct)
    {
        foreach (var r in tensors)
            foreach (var block in TensorStreams.Split(r.Tensor, r.Name, r.Ids, blockBytes))
                await writer.WriteAsync(wrap(block), ct);
    }
}
