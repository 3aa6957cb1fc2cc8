using System.Runtime.CompilerServices;
using ConceptSuite.Contracts;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Core.Tensors;

/// <summary>One received block mapped to a tensor: its name, first row, rows and ids.</summary>
public sealed record TensorBlockView(string Name, long RowOffset, torch.Tensor Tensor, IReadOnlyList<string> Ids);

/// <summary>
/// The one streaming helper over TorchSharp tensors: split a tensor into blocks to send, consume a
/// block stream incrementally (validated block by block), or assemble it when the whole is needed.
/// </summary>
public static class TensorStreams
{
    /// <summary>
    /// Blocks of a tensor (rows along dim 0), sharing its storage, each at most
    /// <paramref name="maxBlockBytes"/> of payload (the stage's <see cref="Hosting.SuiteOptions.BlockBytes"/>,
    /// or a request's bound through <see cref="Hosting.SuiteOptions.BlockBytesFor"/>).
    /// </summary>
    public static IEnumerable<TensorBlock> Split(torch.Tensor tensor, string name, IReadOnlyList<string>? ids,
        int maxBlockBytes, long rowOffset = 0, long? totalRows = null)
    {
        var t = TensorCodec.Contiguous(tensor);
        if (t.dim() == 0) t = t.reshape(1);
        return TensorBlocks.Split(TensorCodec.ToDType(t.dtype), t.shape, TensorCodec.Memory(t), name, ids,
            maxBlockBytes, rowOffset, totalRows).Select(b => KeepAlive(b, t));
    }

    // The memory manager references the tensor; this keeps the tensor reachable from the
    // enumerator too, for callers that drop the original reference while iterating.
    static TensorBlock KeepAlive(TensorBlock b, torch.Tensor t) { GC.KeepAlive(t); return b; }

    /// <summary>
    /// Validates and maps each block as it arrives. The tensors are not owned by any dispose
    /// scope: the consumer disposes each (or moves it into a scope) when done.
    /// </summary>
    public static async IAsyncEnumerable<TensorBlockView> ReadAsync(IAsyncEnumerable<TensorBlock> source,
        TensorStreamRules? rules = null, TensorStreamValidator? validator = null, [EnumeratorCancellation] CancellationToken ct = default)
    {
        validator ??= new TensorStreamValidator(rules);
        await foreach (var block in source.WithCancellation(ct))
        {
            validator.Accept(block);
            torch.Tensor t;
            using (torch.NewDisposeScope())
            {
                t = TensorCodec.TakeTensor(block).DetachFromDisposeScope();
            }
            yield return new TensorBlockView(block.Name, block.RowOffset, t, block.Ids);
        }
        validator.Complete();
    }

    /// <summary>Reads a whole single-tensor stream into one tensor (and its ids, when sent).</summary>
    public static async Task<(torch.Tensor Tensor, List<string> Ids)> AssembleAsync(IAsyncEnumerable<TensorBlock> source,
        TensorStreamRules? rules = null, CancellationToken ct = default)
    {
        var all = await AssembleAllAsync(source, rules, ct);
        if (all.Count != 1)
            throw new InvalidInputException((rules ?? new()).Field, $"expected one tensor, got {all.Count} ({string.Join(", ", all.Keys)})");
        return all.Values.First();
    }

    /// <summary>Reads a stream of named tensors into one tensor per name.</summary>
    public static async Task<Dictionary<string, (torch.Tensor Tensor, List<string> Ids)>> AssembleAllAsync(
        IAsyncEnumerable<TensorBlock> source, TensorStreamRules? rules = null, CancellationToken ct = default)
    {
        var parts = new Dictionary<string, (List<torch.Tensor> Blocks, List<string> Ids)>();
        var validator = new TensorStreamValidator(rules);
        try
        {
            await foreach (var v in ReadAsync(source, rules, validator, ct))
            {
                if (!parts.TryGetValue(v.Name, out var p)) parts[v.Name] = p = (new(), new());
                p.Blocks.Add(v.Tensor);
                p.Ids.AddRange(v.Ids);
            }
            var result = new Dictionary<string, (torch.Tensor, List<string>)>();
            foreach (var (name, p) in parts)
            {
                var whole = p.Blocks.Count == 1 ? p.Blocks[0].clone() : torch.cat(p.Blocks, 0);
                result[name] = (whole, p.Ids);
            }
            return result;
        }
        finally
        {
            foreach (var p in parts.Values) foreach (var b in p.Blocks) b.Dispose();
        }
    }

    /// <summary>Adapts a gRPC reader to an async sequence.</summary>
    public static async IAsyncEnumerable<T> ReadAll<T>(Grpc.Core.IAsyncStreamReader<T> reader, [EnumeratorCancellation] CancellationToken ct = default)
    {
        while (await reader.MoveNext(ct)) yield return reader.Current;
    }
}
