using System.Buffers;
using System.Security.Cryptography;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Tests.Infrastructure;
using Google.Protobuf;
using Grpc.Core;
using TorchSharp;

namespace ConceptSuite.Tests.Core;

/// <summary>
/// Receive parsing into pooled buffers: the same messages as the generated parser, on any
/// segmentation of the wire bytes; hostile bytes answered as the generated parser answers them;
/// buffers back in the pool only when their holder lets go.
/// </summary>
public class ReceivedBlocksTests
{
    static TensorBlock Block(int payloadBytes, int seed, bool extras = true)
    {
        var rng = new Random(seed);
        var data = new byte[payloadBytes];
        rng.NextBytes(data);
        var b = new TensorBlock
        {
            RowOffset = rng.Next(1000),
            Tensor = new Tensor { Dtype = DType.Float32, Data = ByteString.CopyFrom(data) },
        };
        b.Tensor.Shape.Add([payloadBytes / 64, 16]);
        if (extras)
        {
            b.Name = "layer" + seed;
            b.TotalShape.Add([-1, 16]);
            for (int i = 0; i < 3; i++) b.Ids.Add($"id-{seed}-{i}");
        }
        return b;
    }

    /// <summary>The wire bytes as a sequence of segments of <paramref name="segment"/> bytes (as a pipe hands them over).</summary>
    static ReadOnlySequence<byte> Segmented(byte[] wire, int segment)
    {
        Segment? first = null, last = null;
        for (int o = 0; o < wire.Length; o += segment)
        {
            var s = new Segment(wire.AsMemory(o, Math.Min(segment, wire.Length - o)));
            if (first is null) first = last = s;
            else { last!.Append(s); last = s; }
        }
        return first is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(first, 0, last!, last!.Memory.Length);
    }

    sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;
        public void Append(Segment next) { next.RunningIndex = RunningIndex + Memory.Length; Next = next; }
    }

    [Theory]
    [InlineData(0, 4096)]
    [InlineData(1000, 7)]                          // small payload: copied as the generated parser copies
    [InlineData(ReceivedBlocks.MinPooledBytes, 4096)]
    [InlineData(1 << 20, 16384)]
    [InlineData(1 << 20, 1 << 21)]                 // one contiguous segment
    public void ABlockParsesToTheGeneratedParsersMessage(int payload, int segment)
    {
        var sent = Block(payload, payload + segment);
        var wire = sent.ToByteArray();
        var parsed = ReceivedBlocks.ParseBlock(Segmented(wire, segment));
        Assert.Equal(TensorBlock.Parser.ParseFrom(wire), parsed);
        Assert.Equal(payload >= ReceivedBlocks.MinPooledBytes, ReceivedBlocks.TryGetLeased(parsed, out _, out int length));
        if (payload >= ReceivedBlocks.MinPooledBytes) Assert.Equal(payload, length);
        ReceivedBlocks.Release(parsed);
    }

    [Fact]
    public void AWrapperWithABlockParsesToTheGeneratedParsersMessageAndKeepsUnknownFields()
    {
        var block = Block(200_000, 3);
        // Unknown field 15 (varint 7) inside the block and field 9 (bytes) in the wrapper: kept as the generated parser keeps them.
        var blockWire = block.ToByteArray().Concat(new byte[] { 15 << 3, 7 }).ToArray();
        var wrapperWire = new PutArtifactRequest { Block = TensorBlock.Parser.ParseFrom(blockWire) }.ToByteArray()
            .Concat(new byte[] { 9 << 3 | 2, 2, 0xAB, 0xCD }).ToArray();
        var expected = PutArtifactRequest.Parser.ParseFrom(wrapperWire);
        var parsed = ReceivedBlocks.Parse(PutArtifactRequest.Parser, Segmented(wrapperWire, 4096));
        Assert.Equal(expected, parsed);
        Assert.Equal(wrapperWire, parsed.ToByteArray());
        Assert.True(ReceivedBlocks.TryGetLeased(parsed.Block, out _, out _));
        ReceivedBlocks.Release(parsed.Block);
    }

    [Fact]
    public void WhenAnotherMemberOfTheOneofFollowsTheBlockTheLastOneWinsAsInTheGeneratedParser()
    {
        var wire = new PutArtifactRequest { Block = Block(100_000, 4) }.ToByteArray()
            .Concat(new PutArtifactRequest { Header = new PutArtifactHeader { Kind = "activations" } }.ToByteArray()).ToArray();
        var parsed = ReceivedBlocks.Parse(PutArtifactRequest.Parser, Segmented(wire, 4096));
        Assert.Equal(PutArtifactRequest.PartOneofCase.Header, parsed.PartCase);
        Assert.Equal(PutArtifactRequest.Parser.ParseFrom(wire), parsed);
    }

    [Fact]
    public void ARepeatedTensorFieldMergesAsInTheGeneratedParser()
    {
        var a = Block(100_000, 5);
        var b = Block(80_000, 6, extras: false);
        var wire = a.ToByteArray().Concat(new TensorBlock { Tensor = b.Tensor }.ToByteArray()).ToArray();
        Assert.Equal(TensorBlock.Parser.ParseFrom(wire), ReceivedBlocks.ParseBlock(Segmented(wire, 1000)));
    }

    [Fact]
    public void HostileBytesAreRefusedAsTheGeneratedParserRefusesThem()
    {
        var wire = Block(300_000, 7).ToByteArray();
        var cuts = new[] { 1, 5, 40, wire.Length / 2, wire.Length - 1 };
        foreach (var cut in cuts)
        {
            var truncated = wire[..cut];
            var generated = Record.Exception(() => TensorBlock.Parser.ParseFrom(truncated));
            var pooled = Record.Exception(() => ReceivedBlocks.ParseBlock(Segmented(truncated, 512)));
            Assert.NotNull(generated);
            Assert.IsType(generated.GetType(), pooled);
        }
        // A length that claims more than the message holds, a varint of 11 bytes, wire type 7.
        byte[][] bad =
        [
            [4 << 3 | 2, 0xFF, 0xFF, 0xFF, 0x7F, 1, 2, 3],
            [2 << 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
            [4 << 3 | 7, 0],
        ];
        foreach (var b in bad)
        {
            var generated = Record.Exception(() => TensorBlock.Parser.ParseFrom(b));
            Assert.NotNull(generated);
            Assert.IsType(generated.GetType(), Record.Exception(() => ReceivedBlocks.ParseBlock(Segmented(b, 3))));
        }
    }

    [Fact]
    public void ReleaseReturnsTheBufferOnceAndEmptiesTheBlock()
    {
        var parsed = ReceivedBlocks.ParseBlock(new ReadOnlySequence<byte>(Block(1 << 20, 8).ToByteArray()));
        Assert.True(ReceivedBlocks.TryGetLeased(parsed, out var array, out _));
        var before = ReceivedBlocks.Counters.Returned;
        ReceivedBlocks.Release(parsed);
        ReceivedBlocks.Release(parsed);
        ReceivedBlocks.Return(array);
        Assert.True(parsed.Tensor.Data.IsEmpty);
        Assert.False(ReceivedBlocks.TryGetLeased(parsed, out _, out _));
        // Other tests may return buffers at the same time: at least this one, counted once.
        Assert.InRange(ReceivedBlocks.Counters.Returned - before, array.Length, long.MaxValue);
    }

    [Fact]
    public void ATensorTakesTheBufferWithoutACopyAndReturnsItWhenFreed()
    {
        var sent = Block(1 << 20, 9);
        var parsed = ReceivedBlocks.ParseBlock(new ReadOnlySequence<byte>(sent.ToByteArray()));
        Assert.True(ReceivedBlocks.TryGetLeased(parsed, out var array, out _));
        var t = TensorCodec.TakeTensor(parsed);
        Assert.True(parsed.Tensor.Data.IsEmpty);
        Assert.Equal(new long[] { (1 << 20) / 64, 16 }, t.shape);
        Assert.Equal(sent.Tensor.Data.Span.ToArray(), t.bytes.ToArray());
        array[5] ^= 0xFF; // the pooled array itself, not a copy
        Assert.Equal(array[5], t.bytes[5]);
        array[5] ^= 0xFF;
        // Still leased while the tensor lives: a second release through the block is a no-op.
        ReceivedBlocks.Release(parsed);
        Assert.Equal(sent.Tensor.Data.Span.ToArray(), t.bytes.ToArray());
        var view = t.narrow(0, 0, 10); // storage shared: the buffer stays leased until the last view goes
        t.Dispose();
        Assert.Equal(sent.Tensor.Data.Span[..(10 * 64)].ToArray(), view.bytes.ToArray());
        var before = ReceivedBlocks.Counters.Returned;
        view.Dispose();
        Assert.InRange(ReceivedBlocks.Counters.Returned - before, array.Length, long.MaxValue);
    }

    [Fact]
    public async Task TheServerParsesUploadsIntoPooledBuffersAndReturnsThemDeliveringTheSameBytes()
    {
        await using var server = await SuiteTestServer.StartAsync("all");
        var client = new TensorTransport.TensorTransportClient(server.Channel);
        var (pooled0, returned0) = ReceivedBlocks.Counters;
        using var call = client.Sink(new Metadata { { "x-sha256", "1" } });
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (int i = 0; i < 16; i++)
        {
            var b = Block(256 << 10, 100 + i, extras: false);
            b.RowOffset = i * ((256 << 10) / 64);
            sha.AppendData(b.Tensor.Data.Span);
            await call.RequestStream.WriteAsync(b);
        }
        await call.RequestStream.CompleteAsync();
        var summary = await call;
        Assert.Equal(16L * (256 << 10), summary.Bytes);
        Assert.Equal(Convert.ToHexStringLower(sha.GetHashAndReset()), summary.Sha256);
        var (pooled, returned) = ReceivedBlocks.Counters;
        Assert.InRange(pooled - pooled0, 16L * (256 << 10), long.MaxValue);
        Assert.InRange(returned - returned0, 16L * (256 << 10), long.MaxValue);
    }

    [Fact]
    public async Task AClientThroughThePooledInvokerReceivesTheSameBlocksInPooledBuffers()
    {
        await using var server = await SuiteTestServer.StartAsync("all");
        var client = new TensorTransport.TensorTransportClient(new PooledReceiveInvoker(server.Channel.CreateCallInvoker()));
        var sent = Enumerable.Range(0, 6).Select(i =>
        {
            var b = Block(128 << 10, 200 + i, extras: false);
            b.RowOffset = i * ((128 << 10) / 64);
            return b;
        }).ToList();
        var pooled0 = ReceivedBlocks.Counters.Pooled;
        using var call = client.Echo();
        var sending = Task.Run(async () =>
        {
            foreach (var b in sent) await call.RequestStream.WriteAsync(b);
            await call.RequestStream.CompleteAsync();
        });
        var back = new List<TensorBlock>();
        while (await call.ResponseStream.MoveNext(CancellationToken.None)) back.Add(call.ResponseStream.Current);
        await sending;
        Assert.Equal(sent, back);
        Assert.All(back, b => Assert.True(ReceivedBlocks.TryGetLeased(b, out _, out _)));
        // The server's parse and the client's, each at least once per block.
        Assert.InRange(ReceivedBlocks.Counters.Pooled - pooled0, 2L * 6 * (128 << 10), long.MaxValue);
        foreach (var b in back) ReceivedBlocks.Release(b);
    }

    [Fact]
    public void TheTensorRequestStreamsOfTheContractAreTheClientStreamsThatCarryBlocks()
    {
        var methods = TensorBlocks.RequestStreamMethods;
        Assert.Contains(("conceptsuite.v1.TensorTransport", "Sink"), methods);
        Assert.Contains(("conceptsuite.v1.TensorTransport", "Echo"), methods);
        Assert.Contains(("conceptsuite.v1.ArtifactService", "PutArtifact"), methods);
        Assert.Contains(("conceptsuite.v1.DiscoveryService", "Encode"), methods);
        Assert.DoesNotContain(methods, m => m.Method is "GetArtifact" or "ListArtifacts" or "CreateRegion");
        Assert.Equal(methods.Count, methods.Distinct().Count());
    }
}
