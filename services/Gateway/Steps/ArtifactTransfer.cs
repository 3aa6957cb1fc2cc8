using System.Runtime.CompilerServices;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using Grpc.Core;
using Grpc.Net.Client;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// Block-by-block artifact movement over gRPC for executors: read an artifact from a store as
/// a stream of blocks, write a block stream into a store. Nothing here holds a whole tensor.
/// </summary>
public static class ArtifactTransfer
{
    /// <summary>The artifact's info, then its blocks (tensors in name order, or only <paramref name="tensors"/>).</summary>
    public static async Task<(ArtifactInfo Info, IAsyncEnumerable<TensorBlock> Blocks, IDisposable Call)> OpenAsync(
        CallInvoker store, string id, IEnumerable<string>? tensors = null, CancellationToken ct = default)
    {
        var call = new ArtifactService.ArtifactServiceClient(store).GetArtifact(Request(id, tensors), cancellationToken: ct);
        try
        {
            var (info, blocks) = await ArtifactStreams.OpenAsync(call.ResponseStream, id, ct);
            return (info, blocks, call);
        }
        catch
        {
            call.Dispose();
            throw;
        }
    }

    static GetArtifactRequest Request(string id, IEnumerable<string>? tensors)
    {
        var request = new GetArtifactRequest { Id = id };
        if (tensors is not null) request.Tensors.AddRange(tensors);
        return request;
    }

    /// <summary>Stores blocks as one artifact; returns its info (content-derived id).</summary>
    public static async Task<ArtifactInfo> PutAsync(CallInvoker store, string kind, string metadataJson,
        IReadOnlyDictionary<string, string>? labels, IAsyncEnumerable<TensorBlock> blocks, CancellationToken ct = default)
    {
        using var call = new ArtifactService.ArtifactServiceClient(store).PutArtifact(cancellationToken: ct);
        var header = new PutArtifactHeader { Kind = kind, MetadataJson = metadataJson };
        if (labels is not null) foreach (var (k, v) in labels) header.Labels[k] = v;
        await call.RequestStream.WriteAsync(new PutArtifactRequest { Header = header }, ct);
        await foreach (var b in blocks.WithCancellation(ct))
        {
            await call.RequestStream.WriteAsync(new PutArtifactRequest { Block = b }, ct);
            ReceivedBlocks.Release(b); // written (serialized, or copied into a shared region) by now
        }
        await call.RequestStream.CompleteAsync();
        return await call.ResponseAsync;
    }

    /// <summary>Blocks of the given tensors of an artifact under new names (old name → new name), in that order.</summary>
    public static async IAsyncEnumerable<TensorBlock> RenamedAsync(CallInvoker store, string id, IReadOnlyList<(string From, string To)> names,
        [EnumeratorCancellation] CancellationToken ct = default)
    {
        foreach (var (from, to) in names)
        {
            var (_, blocks, call) = await OpenAsync(store, id, [from], ct);
            using (call)
                await foreach (var b in blocks.WithCancellation(ct))
                {
                    b.Name = to;
                    yield return b;
                }
        }
    }

    /// <summary>
    /// Writes blocks into a stage call's request stream, each wrapped as that call's message;
    /// completes the stream afterwards when <paramref name="complete"/>.
    /// </summary>
    public static async Task WriteAsync<T>(IClientStreamWriter<T> writer, IAsyncEnumerable<TensorBlock> blocks, Func<TensorBlock, T> wrap,
        CancellationToken ct, bool complete = false)
    {
        await foreach (var b in blocks.WithCancellation(ct))
        {
            await writer.WriteAsync(wrap(b), ct);
            ReceivedBlocks.Release(b); // written (serialized, or copied into a shared region) by now
        }
        if (complete) await writer.CompleteAsync();
    }

    /// <summary>An activation-like artifact's info, checked to hold <paramref name="tensor"/>; its row count.</summary>
    public static async Task<(ArtifactInfo Info, long Rows)> SourceAsync(CallInvoker store, string id, string tensor, string field, CancellationToken ct)
    {
        var info = await InfoAsync(store, id, ct);
        var t = info.Tensors.FirstOrDefault(t => t.Name == tensor) ?? throw new InvalidInputException(field, $"artifact {id[..12]} has no tensor '{tensor}'");
        return (info, t.Shape.Count > 0 ? t.Shape[0] : 0);
    }

    /// <summary>
    /// A step input of spatial activations [N, D, h, w] (an embedding with a spatial tap): its
    /// tensor's info and its rows; INVALID_ARGUMENT naming <paramref name="field"/> for another rank.
    /// </summary>
    public static async Task<(TensorInfo Tap, long Rows)> SpatialSourceAsync(CallInvoker store, string id, string tensor, string field, CancellationToken ct)
    {
        var (info, rows) = await SourceAsync(store, id, tensor, field, ct);
        var tap = info.Tensors.First(t => t.Name == tensor);
        if (tap.Shape.Count != 4)
            throw new InvalidInputException(field, $"expected spatial activations [N, D, h, w], got rank {tap.Shape.Count} (embed with a spatial tap, e.g. taps=layer4)");
        return (tap, rows);
    }

    /// <summary>An artifact's info (id, kind, tensors, metadata).</summary>
    public static async Task<ArtifactInfo> InfoAsync(CallInvoker store, string id, CancellationToken ct = default) =>
        await new ArtifactService.ArtifactServiceClient(store).GetArtifactInfoAsync(new GetArtifactInfoRequest { Id = id }, cancellationToken: ct);

    /// <summary>Small tensors of an artifact (reports, labels, a data set for the atlas), whole, with the artifact's info.</summary>
    public static Task<(ArtifactInfo Info, Dictionary<string, HostTensor> Tensors)> ReadSmallAsync(CallInvoker store, string id,
        IEnumerable<string>? tensors = null, CancellationToken ct = default) =>
        ArtifactStreams.ReadAllAsync(new ArtifactService.ArtifactServiceClient(store).GetArtifact(Request(id, tensors), cancellationToken: ct), id, ct);

    /// <summary>A stored dictionary's atoms [C, D] (DiscoveryService.GetDictionary on <paramref name="discovery"/>) as blocks named <paramref name="name"/>.</summary>
    public static async IAsyncEnumerable<TensorBlock> AtomsAsync(CallInvoker discovery, string dictionary, string name,
        [EnumeratorCancellation] CancellationToken ct = default)
    {
        using var atoms = new DiscoveryService.DiscoveryServiceClient(discovery).GetDictionary(
            new GetDictionaryRequest { Dictionary = new DictionaryRef { Artifact = new ArtifactRef { Id = dictionary, Kind = "dictionary" } } }, cancellationToken: ct);
        while (await atoms.ResponseStream.MoveNext(ct))
            if (atoms.ResponseStream.Current.Block is { } b)
            {
                b.Name = name;
                yield return b;
            }
    }

    /// <summary>Adapts in-memory blocks to the async form <see cref="PutAsync"/> takes.</summary>
    public static async IAsyncEnumerable<TensorBlock> AsAsync(IEnumerable<TensorBlock> blocks, [EnumeratorCancellation] CancellationToken ct = default)
    {
        foreach (var b in blocks)
        {
            ct.ThrowIfCancellationRequested();
            yield return b;
            await Task.CompletedTask;
        }
    }
}
