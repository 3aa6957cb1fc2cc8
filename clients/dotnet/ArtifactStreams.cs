using System.Runtime.CompilerServices;
using ConceptSuite.Contracts;
using Grpc.Core;

namespace ConceptSuite.Client;

/// <summary>
/// Reading a GetArtifact stream, whoever serves it (ArtifactService of a stage or the store,
/// GatewayService): the info header first, then the blocks of the requested tensors.
/// </summary>
public static class ArtifactStreams
{
    /// <summary>The artifact's info, then its blocks as they arrive.</summary>
    public static async Task<(ArtifactInfo Info, IAsyncEnumerable<TensorBlock> Blocks)> OpenAsync(IAsyncStreamReader<GetArtifactResponse> stream,
        string id, CancellationToken ct = default)
    {
        if (!await stream.MoveNext(ct) || stream.Current.Info is not { } info)
            throw new RpcException(new Status(StatusCode.DataLoss, $"artifact {id}: the server sent no info header"));
        return (info, Blocks(stream, ct));
    }

    static async IAsyncEnumerable<TensorBlock> Blocks(IAsyncStreamReader<GetArtifactResponse> stream, [EnumeratorCancellation] CancellationToken ct)
    {
        while (await stream.MoveNext(ct))
            yield return stream.Current.Block ?? throw new RpcException(new Status(StatusCode.DataLoss, "artifact stream: a second info header"));
    }

    /// <summary>The artifact's info and its tensors, whole (for small artifacts: reports, an atlas, labels); disposes the call.</summary>
    public static async Task<(ArtifactInfo Info, Dictionary<string, HostTensor> Tensors)> ReadAllAsync(AsyncServerStreamingCall<GetArtifactResponse> call,
        string id, CancellationToken ct = default)
    {
        using (call)
        {
            var (info, blocks) = await OpenAsync(call.ResponseStream, id, ct);
            return (info, await TensorStreamClient.ReadAllAsync(blocks, ct));
        }
    }
}
