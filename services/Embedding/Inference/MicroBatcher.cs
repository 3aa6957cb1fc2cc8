using System.Threading.Channels;
using ConceptSuite.Embedding.Models;
using TorchSharp;

namespace ConceptSuite.Embedding.Inference;

/// <summary>
/// Merges concurrent forward requests for one backbone into batches: one worker takes the first
/// waiting request, gathers more (up to <c>maxBatch</c> rows, waiting at most <c>window</c> for
/// them), runs one forward pass over the union of their taps and hands each request its rows.
/// No forward pass runs more than <c>maxBatch</c> rows: a larger request runs in pieces.
/// </summary>
public sealed class MicroBatcher : IAsyncDisposable
{
    sealed record Item(torch.Tensor Pixels, IReadOnlyList<string> Taps, TaskCompletionSource<Dictionary<string, torch.Tensor>> Done, CancellationToken Ct);

    readonly IBackbone _backbone;
    readonly int _maxBatch;
    readonly TimeSpan _window;
    readonly Channel<Item> _queue = Channel.CreateUnbounded<Item>(new UnboundedChannelOptions { SingleReader = true });
    readonly Task _worker;
    long _batches, _rows, _largest;

    public MicroBatcher(IBackbone backbone, int maxBatch, TimeSpan window)
    {
        _backbone = backbone;
        _maxBatch = Math.Max(1, maxBatch);
        _window = window;
        _worker = Task.Run(WorkAsync);
    }

    /// <summary>Forward passes run so far and rows they covered (average batch = rows / batches).</summary>
    public (long Batches, long Rows) Stats => (Interlocked.Read(ref _batches), Interlocked.Read(ref _rows));

    /// <summary>Most rows one forward pass has run (never more than the batch size).</summary>
    public long LargestBatch => Interlocked.Read(ref _largest);

    /// <summary>
    /// Queues float32 [n, C, H, W] pixels (the batcher takes ownership and disposes them) and
    /// returns the taps' activations [n, ...] (the caller owns and disposes them).
    /// </summary>
    public Task<Dictionary<string, torch.Tensor>> RunAsync(torch.Tensor pixels, IReadOnlyList<string> taps, CancellationToken ct)
    {
        var item = new Item(pixels, taps, new(TaskCreationOptions.RunContinuationsAsynchronously), ct);
        if (!_queue.Writer.TryWrite(item)) { pixels.Dispose(); throw new ObjectDisposedException(nameof(MicroBatcher)); }
        return item.Done.Task;
    }

    async Task WorkAsync()
    {
        var reader = _queue.Reader;
        Item? carry = null;
        while (carry is not null || await reader.WaitToReadAsync())
        {
            var batch = new List<Item>();
            long rows = 0;
            if (carry is not null) { batch.Add(carry); rows += carry.Pixels.shape[0]; carry = null; }
            var deadline = DateTime.UtcNow + _window;
            while (rows < _maxBatch)
            {
                if (reader.TryRead(out var next))
                {
                    if (next.Ct.IsCancellationRequested) { Cancel(next); continue; }
                    if (batch.Count > 0 && rows + next.Pixels.shape[0] > _maxBatch) { carry = next; break; }
                    batch.Add(next); rows += next.Pixels.shape[0];
                    continue;
                }
                var left = deadline - DateTime.UtcNow;
                if (batch.Count > 0 && left <= TimeSpan.Zero) break;
                if (batch.Count == 0) { if (!await reader.WaitToReadAsync()) break; continue; }
                using var cts = new CancellationTokenSource(left);
                try { if (!await reader.WaitToReadAsync(cts.Token)) break; }
                catch (OperationCanceledException) { break; }
            }
            batch.RemoveAll(i => { if (!i.Ct.IsCancellationRequested) return false; Cancel(i); return true; });
            if (batch.Count == 0) continue;
            Execute(batch);
        }
    }

    static void Cancel(Item i) { i.Pixels.Dispose(); i.Done.TrySetCanceled(i.Ct); }

    void Execute(List<Item> batch)
    {
        try
        {
            var taps = batch.SelectMany(i => i.Taps).Distinct().ToList();
            Dictionary<string, torch.Tensor> outs;
            using (var scope = torch.NewDisposeScope())
            {
                var input = batch.Count == 1 ? batch[0].Pixels : torch.cat(batch.Select(i => i.Pixels).ToList(), 0);
                outs = ForwardBounded(input, taps);
            }
            long offset = 0;
            foreach (var item in batch)
            {
                long n = item.Pixels.shape[0];
                var mine = new Dictionary<string, torch.Tensor>();
                foreach (var t in item.Taps)
                    // Detached: the caller owns them, whatever dispose scope is current on this pool thread.
                    mine[t] = (batch.Count == 1 ? outs[t].alias() : outs[t].narrow(0, offset, n).clone()).DetachFromDisposeScope();
                offset += n;
                Interlocked.Add(ref _rows, n);
                item.Done.TrySetResult(mine);
            }
            foreach (var o in outs.Values) o.Dispose();
        }
        catch (Exception e)
        {
            foreach (var i in batch) i.Done.TrySetException(e);
        }
        finally
        {
            foreach (var i in batch) i.Pixels.Dispose();
        }
    }

    /// <summary>
    /// The backbone's forward pass in pieces of at most <c>maxBatch</c> rows (a single request
    /// larger than the batch is split, never run at once), the taps' rows concatenated.
    /// </summary>
    Dictionary<string, torch.Tensor> ForwardBounded(torch.Tensor input, IReadOnlyList<string> taps)
    {
        long n = input.shape[0];
        if (n <= _maxBatch) return Forward(input, taps);
        var pieces = taps.ToDictionary(t => t, _ => new List<torch.Tensor>());
        try
        {
            for (long s = 0; s < n; s += _maxBatch)
            {
                var outs = Forward(input.narrow(0, s, Math.Min(_maxBatch, n - s)), taps);
                foreach (var t in taps) pieces[t].Add(outs[t]);
            }
            return taps.ToDictionary(t => t, t => torch.cat(pieces[t], 0).DetachFromDisposeScope());
        }
        finally { foreach (var p in pieces.Values.SelectMany(l => l)) p.Dispose(); }
    }

    Dictionary<string, torch.Tensor> Forward(torch.Tensor input, IReadOnlyList<string> taps)
    {
        var outs = _backbone.Forward(input, taps);
        Interlocked.Increment(ref _batches);
        long rows = input.shape[0], seen;
        while (rows > (seen = Interlocked.Read(ref _largest)) && Interlocked.CompareExchange(ref _largest, rows, seen) != seen) { }
        return outs;
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _worker;
    }
}
