using System.Runtime.CompilerServices;
using ConceptSuite.Contracts;
using Grpc.Core;

namespace ConceptSuite.Client;

/// <summary>The client side of the block streams: send a tensor as blocks, receive blocks as a tensor.</summary>
public static class TensorStreamClient
{
    /// <summary>Writes a tensor as blocks to a request stream (does not complete the stream).</summary>
    public static async Task WriteAsync(IAsyncStreamWriter<TensorBlock> writer, HostTensor tensor, string name = "",
        int maxBlockBytes = TensorBlocks.DefaultMaxBlockBytes, CancellationToken ct = default)
    {
        foreach (var b in tensor.ToBlocks(name, maxBlockBytes))
        {
            ct.ThrowIfCancellationRequested();
            await writer.WriteAsync(b);
        }
    }

    /// <summary>Blocks as they arrive, validated.</summary>
    public static async IAsyncEnumerable<TensorBlock> ReadBlocksAsync(IAsyncStreamReader<TensorBlock> reader,
        TensorStreamRules? rules = null, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var v = new TensorStreamValidator(rules);
        while (await reader.MoveNext(ct))
        {
            v.Accept(reader.Current);
            yield return reader.Current;
        }
        v.Complete();
    }

    /// <summary>Assembles a block stream into one tensor per block name.</summary>
    public static async Task<Dictionary<string, HostTensor>> ReadAllAsync(IAsyncEnumerable<TensorBlock> blocks, CancellationToken ct = default)
    {
        var parts = new Dictionary<string, (DType DType, long[] Trailing, MemoryStream Bytes, List<string> Ids, long Rows)>();
        await foreach (var b in blocks.WithCancellation(ct))
        {
            if (!parts.TryGetValue(b.Name, out var p))
                parts[b.Name] = p = (b.Tensor.Dtype, b.Tensor.Shape.Skip(1).ToArray(), new MemoryStream(), new List<string>(), 0);
            b.Tensor.Data.WriteTo(p.Bytes);
            ReceivedBlocks.Release(b); // copied: a pooled payload can go back
            p.Ids.AddRange(b.Ids);
            parts[b.Name] = p with { Rows = p.Rows + b.Tensor.Shape[0] };
        }
        return parts.ToDictionary(kv => kv.Key,
            kv => new HostTensor(kv.Value.DType, [kv.Value.Rows, .. kv.Value.Trailing], kv.Value.Bytes.ToArray(), kv.Value.Ids));
    }

    /// <summary>Assembles a single-tensor block stream.</summary>
    public static async Task<HostTensor> ReadAsync(IAsyncStreamReader<TensorBlock> reader, CancellationToken ct = default)
    {
        var all = await ReadAllAsync(ReadBlocksAsync(reader, null, ct), ct);
        return all.Count == 1 ? all.Values.First() : throw new InvalidOperationException($"expected one tensor, got {all.Count}");
    }
}
