using System.Security.Cryptography;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Hosting;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace ConceptSuite.Core.Transport;

/// <summary>Core's own tensor path: echo and sink, validating every block (see tensor.proto).</summary>
public sealed class TensorTransportService(IOptions<SuiteOptions> options) : TensorTransport.TensorTransportBase
{
    TensorStreamRules Rules => new() { MaxTotalBytes = options.Value.MaxStreamBytes, RejectEmpty = false };

    public override async Task Echo(IAsyncStreamReader<TensorBlock> requestStream, IServerStreamWriter<TensorBlock> responseStream, ServerCallContext context)
    {
        var validator = new TensorStreamValidator(Rules);
        var ct = context.CancellationToken;
        while (await requestStream.MoveNext(ct))
        {
            validator.Accept(requestStream.Current);
            await responseStream.WriteAsync(requestStream.Current, ct); // serialized into the response by now
            ReceivedBlocks.Release(requestStream.Current);
        }
        validator.Complete();
    }

    public override async Task<TensorStreamSummary> Sink(IAsyncStreamReader<TensorBlock> requestStream, ServerCallContext context)
    {
        var validator = new TensorStreamValidator(Rules);
        var ct = context.CancellationToken;
        bool hash = context.RequestHeaders.GetValue("x-sha256") == "1";
        // "x-touch: 1": read every payload byte (a consumer that uses the data, for benchmarks).
        bool touch = context.RequestHeaders.GetValue("x-touch") == "1";
        ulong sum = 0;
        using var sha = hash ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
        long blocks = 0;
        while (await requestStream.MoveNext(ct))
        {
            var b = requestStream.Current;
            validator.Accept(b);
            sha?.AppendData(b.Tensor.Data.Span);
            if (touch) sum += Checksum(b.Tensor.Data.Span);
            ReceivedBlocks.Release(b);
            blocks++;
        }
        validator.Complete();
        var summary = new TensorStreamSummary { Bytes = validator.TotalBytes, Blocks = blocks };
        if (validator.Names.Count > 0)
        {
            var name = validator.Names.First();
            summary.Rows = validator.Rows(name);
            summary.Shape.Add(validator.Shape(name));
            summary.Dtype = validator.DTypeOf(name);
        }
        if (sha is not null) summary.Sha256 = Convert.ToHexStringLower(sha.GetHashAndReset());
        if (touch) context.ResponseTrailers.Add("x-checksum", sum.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return summary;
    }

    /// <summary>Sum of the bytes as little-endian 64-bit words (a trailing partial word zero-padded).</summary>
    public static ulong Checksum(ReadOnlySpan<byte> bytes)
    {
        var words = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(bytes);
        ulong sum = 0;
        int i = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated && words.Length >= System.Numerics.Vector<ulong>.Count)
        {
            var acc = System.Numerics.Vector<ulong>.Zero;
            var vectors = System.Runtime.InteropServices.MemoryMarshal.Cast<ulong, System.Numerics.Vector<ulong>>(words);
            foreach (var v in vectors) acc += v;
            sum = System.Numerics.Vector.Sum(acc);
            i = vectors.Length * System.Numerics.Vector<ulong>.Count;
        }
        for (; i < words.Length; i++) sum += words[i];
        Span<byte> tail = stackalloc byte[8];
        tail.Clear();
        bytes[(words.Length * 8)..].CopyTo(tail);
        return sum + System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(tail);
    }
}
