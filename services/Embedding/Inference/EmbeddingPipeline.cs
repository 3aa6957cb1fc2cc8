using ConceptSuite.Contracts;
using ConceptSuite.Core.Streaming;
using ConceptSuite.Core.Tensors;
using Grpc.Core;
using TorchSharp;

namespace ConceptSuite.Embedding.Inference;

/// <summary>
/// The streaming half of EmbedImages: conformed image rows are gathered into chunks of
/// <c>chunkRows</c>, each chunk runs through the model's micro-batcher, and each chunk's tap rows
/// are written as blocks (named by the tap, with the images' ids) in input order. Two chunks stay
/// in flight, so decoding the next overlaps the forward pass of the last.
/// </summary>
public sealed class EmbeddingPipeline(MicroBatcher batcher, IReadOnlyList<string> taps, int chunkRows, int blockBytes,
    IAsyncStreamWriter<TensorBlock> output, CancellationToken ct) : IAsyncDisposable
{
    readonly List<torch.Tensor> _chunk = new();
    readonly List<string> _chunkIds = new();
    readonly Queue<(Task<Dictionary<string, torch.Tensor>> Result, List<string> Ids, long Offset)> _pending = new();
    long _submitted;

    /// <summary>Rows added so far.</summary>
    public long Rows { get; private set; }

    /// <summary>Adds rows [n, C, H, W] (conformed to the model's input; the pipeline owns them) with one id each.</summary>
    public async Task AddAsync(torch.Tensor rows, IEnumerable<string> ids)
    {
        _chunk.Add(rows);
        foreach (var id in ids) { _chunkIds.Add(id); Rows++; }
        if (_chunkIds.Count >= chunkRows) await SubmitAsync();
    }

    /// <summary>Runs what is left and writes every remaining block.</summary>
    public async Task CompleteAsync()
    {
        await SubmitAsync();
        while (_pending.Count > 0) await WriteOldestAsync();
    }

    async Task SubmitAsync()
    {
        if (_chunk.Count == 0) return;
        var pixels = TensorScope.Keep(() => _chunk.Count == 1 ? _chunk[0] : torch.cat(_chunk, 0));
        foreach (var c in _chunk) if (!ReferenceEquals(c, pixels)) c.Dispose();
        _pending.Enqueue((batcher.RunAsync(pixels, taps, ct), new List<string>(_chunkIds), _submitted));
        _submitted += pixels.shape[0];
        _chunk.Clear();
        _chunkIds.Clear();
        while (_pending.Count > 2) await WriteOldestAsync();
    }

    async Task WriteOldestAsync()
    {
        var (task, ids, offset) = _pending.Dequeue();
        var outs = await task;
        try
        {
            foreach (var tap in taps)
                foreach (var block in TensorStreams.Split(outs[tap], tap, ids, blockBytes, offset, -1))
                    await output.WriteAsync(block, ct);
        }
        finally { foreach (var o in outs.Values) o.Dispose(); }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var c in _chunk) c.Dispose();
        while (_pending.Count > 0)
        {
            var (task, _, _) = _pending.Dequeue();
            try { foreach (var o in (await task).Values) o.Dispose(); } catch { /* the call already failed */ }
        }
    }
}
