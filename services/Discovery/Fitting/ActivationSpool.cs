using System.Text.Json;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Discovery.Abstractions;

namespace ConceptSuite.Discovery.Fitting;

/// <summary>The activations a Fit request streams, stored as an "activations" artifact before the fit reads them.</summary>
public static class ActivationSpool
{
    /// <summary>The tensor name of spooled activations (and the default tensor of an activation artifact).</summary>
    public const string Tensor = "activations";
    /// <summary>The artifact kind of activations (streamed, embedded or paired).</summary>
    public const string Kind = "activations";

    /// <summary>Streams the request's blocks to an "activations" artifact (validated block by block; nothing stored on error).
    /// <c>Created</c> is false when the same content was stored before this call.</summary>
    public static async Task<(string Id, DataStats Stats, bool Created)> WriteAsync(ArtifactStore store, IAsyncEnumerable<TensorBlock> blocks, long maxStreamBytes, CancellationToken ct)
    {
        var validator = new TensorStreamValidator(new TensorStreamRules
        {
            Field = "blocks", RejectNonFinite = true, RequiredDType = DType.Float32, MaxTotalBytes = maxStreamBytes,
        });
        using var writer = store.BeginWrite(Kind);
        writer.Labels["stage"] = "discovery";
        writer.Labels["source"] = "fit-stream";
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        long[]? trailing = null;
        await foreach (var b in blocks.WithCancellation(ct))
        {
            if (!string.IsNullOrEmpty(b.Name) && b.Name != ActivationSpool.Tensor)
                throw new InvalidInputException($"blocks[{validator.Rows()}].name", "must be empty (one activation tensor per fit)");
            b.Name = "";
            validator.Accept(b);
            if (b.Tensor.Shape.Count is < 2 or > 4)
                throw new InvalidInputException("blocks.tensor.shape", "activations must be [n, D], [n, T, D] or [n, C, H, W]");
            trailing ??= b.Tensor.Shape.Skip(1).ToArray();
            writer.AppendRows(ActivationSpool.Tensor, b.Tensor.Dtype, b.Tensor.Shape, b.Tensor.Data.Span);
            var v = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(b.Tensor.Data.Span);
            foreach (var x in v) { if (x < min) min = x; if (x > max) max = x; }
            ReceivedBlocks.Release(b);
        }
        validator.Complete();
        if (trailing is null) throw new InvalidInputException("blocks", "no activation rows were sent");
        long rows = validator.Rows();
        if (rows == 0) throw new InvalidInputException("blocks", "no activation rows were sent");
        writer.MetadataJson = JsonSerializer.Serialize(new { source = "discovery.fit" });
        var before = DateTime.UtcNow;
        var info = await writer.CommitAsync(ct);
        int dim = SampleLayout.Dim(trailing, "blocks.tensor.shape");
        // Commit answers with the stored artifact when the same content was already there (its older timestamp).
        bool created = info.Created.ToDateTime() >= before;
        return (info.Ref.Id, new DataStats(rows * SampleLayout.Positions(trailing), dim, min, max, "blocks"), created);
    }
}
