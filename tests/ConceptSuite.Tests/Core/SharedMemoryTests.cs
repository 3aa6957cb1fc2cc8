using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Transport;
using ConceptSuite.Tests.Infrastructure;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;

namespace ConceptSuite.Tests.Core;

/// <summary>The shared-memory data plane: region lifecycle, limits, ownership, and bytes identical to the inline path.</summary>
public sealed class SharedMemoryTests
{
    const string KeyA = "shm-key-a", KeyB = "shm-key-b";

    static async Task<SuiteTestServer> ServerAsync(params (string Key, string Value)[] settings) =>
        await SuiteTestServer.StartAsync("core", null,
            [("ConceptSuite:Security:ApiKeys:0", KeyA), ("ConceptSuite:Security:ApiKeys:1", KeyB), ("ConceptSuite:SharedMemory:SweepSeconds", "0.1"), .. settings]);

    static async Task<StatusCode> CodeOf(Func<Task> call)
    {
        try { await call(); return StatusCode.OK; }
        catch (RpcException e) { return e.StatusCode; }
    }

    static byte[] Payload(int bytes, int seed)
    {
        var data = new byte[bytes];
        new Random(seed).NextBytes(data);
        return data;
    }

    static TensorBlock Block(byte[] data, long rowOffset, long totalRows)
    {
        var b = new TensorBlock { RowOffset = rowOffset, Tensor = new Tensor { Dtype = DType.Float32, Data = ByteString.CopyFrom(data) } };
        b.Tensor.Shape.Add([data.Length / 1024, 256]);
        b.TotalShape.Add([totalRows, 256]);
        return b;
    }

    static async Task<(TensorStreamSummary Summary, string Checksum)> SinkAsync(TensorTransport.TensorTransportClient client, IEnumerable<TensorBlock> blocks)
    {
        using var call = client.Sink(new Metadata { { "x-sha256", "1" }, { "x-touch", "1" } });
        foreach (var b in blocks) await call.RequestStream.WriteAsync(b);
        await call.RequestStream.CompleteAsync();
        var summary = await call;
        return (summary, call.GetTrailers().GetValue("x-checksum") ?? "");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task SharedAndInlineBlocksDeliverIdenticalBytes(bool readInPlace)
    {
        await using var server = await ServerAsync(("ConceptSuite:SharedMemory:ReadInPlace", readInPlace ? "true" : "false"));
        using var channel = server.ChannelWithKey(KeyA);
        await using var link = new SharedMemoryLink(channel.CreateCallInvoker());
        var shared = new TensorTransport.TensorTransportClient(channel.Intercept(link.Interceptor));
        var inline = new TensorTransport.TensorTransportClient(channel);
        // 72 blocks of 1 MiB: the link fills one 64 MiB region and opens a second.
        var data = Enumerable.Range(0, 72).Select(i => Payload(1 << 20, i)).ToArray();
        long rows = data.Sum(d => d.Length / 1024L);
        IEnumerable<TensorBlock> Blocks() { long r = 0; foreach (var d in data) { yield return Block(d, r, rows); r += d.Length / 1024; } }

        var viaShm = await SinkAsync(shared, Blocks());
        Assert.Equal(72L << 20, link.SharedBytes);
        var viaGrpc = await SinkAsync(inline, Blocks());
        Assert.Equal(viaGrpc.Summary.Sha256, viaShm.Summary.Sha256);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(data.SelectMany(d => d).ToArray())), viaShm.Summary.Sha256);
        Assert.Equal(viaGrpc.Checksum, viaShm.Checksum);
        Assert.Equal(72L << 20, viaShm.Summary.Bytes);
        Assert.Equal(rows, viaShm.Summary.Rows);

        // Echo answers inline with the bytes the slices pointed at.
        using (var echo = shared.Echo())
        {
            await echo.RequestStream.WriteAsync(Block(data[3], 0, 1024));
            await echo.RequestStream.CompleteAsync();
            Assert.True(await echo.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Null(echo.ResponseStream.Current.Shared);
            Assert.Equal(data[3], echo.ResponseStream.Current.Tensor.Data.ToByteArray());
            Assert.False(await echo.ResponseStream.MoveNext(CancellationToken.None));
        }

        // The call's regions went back to the link's pool: a second transfer creates none.
        var regions = server.Services.GetRequiredService<SharedRegions>();
        int before = regions.Count;
        await SinkAsync(shared, Blocks());
        Assert.Equal(before, regions.Count);
    }

    /// <summary>
    /// A slice read in place keeps its region mapped while the call that read it runs: released
    /// meanwhile, the region is gone for every new use (NOT_FOUND) but the bytes already handed
    /// out stay readable, and its file goes when the call lets go.
    /// </summary>
    [Fact]
    public async Task ASliceReadInPlaceOutlivesTheReleaseOfItsRegionUntilTheCallEnds()
    {
        await using var server = await ServerAsync();
        var regions = server.Services.GetRequiredService<SharedRegions>();
        var region = regions.Create("owner", 1 << 20, 30);
        var data = Payload(4096, 5);
        regions.Write("owner", region.Region, 8192, data);
        var slice = new SharedSlice { Region = region.Region, Offset = 8192, Length = data.Length };
        var holds = new SliceHolds();
        var bytes = regions.Borrow("owner", slice, 1 << 20, "block.shared", holds);
        Assert.Equal(data, bytes.ToArray());
        // Another key, and a slice past the end, are refused before anything is held.
        Assert.Throws<NotFoundException>(() => regions.Borrow("thief", slice, 1 << 20, "block.shared", holds));
        Assert.Throws<InvalidInputException>(() => regions.Borrow("owner", new SharedSlice { Region = region.Region, Offset = (1 << 20) - 10, Length = 11 }, 1 << 20, "block.shared", holds));

        regions.Release("owner", region.Region);
        Assert.Equal(0, regions.LiveBytes);
        Assert.Throws<NotFoundException>(() => regions.Borrow("owner", slice, 1 << 20, "block.shared", holds));
        Assert.True(File.Exists(region.Path)); // still mapped for the call
        Assert.Equal(data, bytes.ToArray());
        holds.Dispose();
        Assert.False(File.Exists(region.Path));
    }

    [Fact]
    public async Task ARegionLivesUntilReleasedOrItsLeaseRunsOut()
    {
        await using var server = await ServerAsync();
        using var channel = server.ChannelWithKey(KeyA);
        var client = new SharedMemory.SharedMemoryClient(channel);
        var region = await client.CreateRegionAsync(new CreateRegionRequest { Bytes = 1 << 20, LeaseSeconds = 30 });
        Assert.True(File.Exists(region.Path));
        Assert.Equal(1 << 20, new FileInfo(region.Path).Length);
        Assert.Equal(SharedRegionFile.BootId, region.BootId);
        Assert.Matches("^conceptsuite-shm-[0-9]+-[0-9a-f]{32}$", region.Region);
        var renewed = await client.RenewRegionAsync(new RegionRequest { Region = region.Region, LeaseSeconds = 120 });
        Assert.True(renewed.ExpiresUnixMs > region.ExpiresUnixMs);
        await client.ReleaseRegionAsync(new RegionRequest { Region = region.Region });
        Assert.False(File.Exists(region.Path));
        Assert.Equal(StatusCode.NotFound, await CodeOf(async () => await client.ReleaseRegionAsync(new RegionRequest { Region = region.Region })));

        // A caller that never releases (it crashed): the region goes when its lease ends.
        var orphan = await client.CreateRegionAsync(new CreateRegionRequest { Bytes = 4096, LeaseSeconds = 1 });
        Assert.True(File.Exists(orphan.Path));
        var sw = Stopwatch.StartNew();
        while (File.Exists(orphan.Path) && sw.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(50);
        Assert.False(File.Exists(orphan.Path));
        Assert.InRange(sw.Elapsed.TotalSeconds, 0.3, 3);
        Assert.Equal(StatusCode.NotFound, await CodeOf(async () => await client.RenewRegionAsync(new RegionRequest { Region = orphan.Region })));
        Assert.Equal(0, server.Services.GetRequiredService<SharedRegions>().LiveBytes);
    }

    [Fact]
    public async Task TheRegionFilesOfAProcessThatDiedAreReclaimed()
    {
        // A server killed while holding regions leaves its files; a process id that no longer runs marks them.
        using var gone = Process.Start(new ProcessStartInfo("/bin/true"))!;
        gone.WaitForExit();
        var dir = Directory.CreateTempSubdirectory("cs-shm-").FullName;
        try
        {
            var left = Path.Combine(dir, $"conceptsuite-shm-{gone.Id}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16))}");
            var live = Path.Combine(dir, $"conceptsuite-shm-{Environment.ProcessId}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16))}");
            var other = Path.Combine(dir, "not-ours");
            foreach (var f in new[] { left, live, other }) await File.WriteAllBytesAsync(f, new byte[4096]);
            await using var server = await ServerAsync(("ConceptSuite:SharedMemory:Directory", dir));
            var sw = Stopwatch.StartNew();
            while (File.Exists(left) && sw.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(50);
            Assert.False(File.Exists(left));
            Assert.True(File.Exists(live));
            Assert.True(File.Exists(other));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public async Task LimitsAnswerNamedErrorsAndLeaveNothingBehind()
    {
        var dir = Directory.CreateTempSubdirectory("cs-shm-").FullName;
        try
        {
            await using var server = await ServerAsync(("ConceptSuite:SharedMemory:Directory", dir), ("ConceptSuite:SharedMemory:MaxBytes", $"{3 << 20}"),
                ("ConceptSuite:SharedMemory:MaxRegionBytes", $"{2 << 20}"), ("ConceptSuite:SharedMemory:MaxRegionsPerOwner", "2"),
                ("ConceptSuite:MaxMessageBytes", $"{4 << 20}"), ("ConceptSuite:BlockBytes", $"{1 << 20}"));
            using var channel = server.ChannelWithKey(KeyA);
            var client = new SharedMemory.SharedMemoryClient(channel);
            Assert.Equal(StatusCode.InvalidArgument, await CodeOf(async () => await client.CreateRegionAsync(new CreateRegionRequest { Bytes = (2 << 20) + 1 })));
            Assert.Equal(StatusCode.InvalidArgument, await CodeOf(async () => await client.CreateRegionAsync(new CreateRegionRequest { Bytes = 0 })));
            Assert.Equal(StatusCode.InvalidArgument, await CodeOf(async () => await client.CreateRegionAsync(new CreateRegionRequest { Bytes = 1, LeaseSeconds = 1 << 30 })));
            var a = await client.CreateRegionAsync(new CreateRegionRequest { Bytes = 2 << 20 });
            var e = Assert.Throws<RpcException>(() => client.CreateRegion(new CreateRegionRequest { Bytes = 2 << 20 }));
            Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
            Assert.Contains("MaxBytes", e.Status.Detail);
            var b = await client.CreateRegionAsync(new CreateRegionRequest { Bytes = 4096 });
            e = Assert.Throws<RpcException>(() => client.CreateRegion(new CreateRegionRequest { Bytes = 4096 }));
            Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
            Assert.Contains("MaxRegionsPerOwner", e.Status.Detail);
            Assert.Equal(2, Directory.GetFiles(dir).Length);

            // Slices are checked against the region and the message size before anything is read.
            var sink = new TensorTransport.TensorTransportClient(channel);
            async Task<RpcException> SinkSlice(SharedSlice slice, int rows = 1, bool withData = false)
            {
                var block = new TensorBlock { Tensor = new Tensor { Dtype = DType.Uint8, Data = withData ? ByteString.CopyFrom(new byte[rows]) : ByteString.Empty }, Shared = slice };
                block.Tensor.Shape.Add(rows);
                using var call = sink.Sink();
                await call.RequestStream.WriteAsync(block);
                await call.RequestStream.CompleteAsync();
                return await Assert.ThrowsAsync<RpcException>(async () => await call);
            }
            var outside = await SinkSlice(new SharedSlice { Region = a.Region, Offset = (2 << 20) - 10, Length = 20 }, 20);
            Assert.Equal(StatusCode.InvalidArgument, outside.StatusCode);
            Assert.Contains("block.shared", outside.Status.Detail);
            var negative = await SinkSlice(new SharedSlice { Region = a.Region, Offset = -1, Length = 1 });
            Assert.Equal(StatusCode.InvalidArgument, negative.StatusCode);
            var huge = await SinkSlice(new SharedSlice { Region = a.Region, Offset = 0, Length = (4L << 20) + 1 }, 1);
            Assert.Equal(StatusCode.InvalidArgument, huge.StatusCode);
            Assert.Contains("largest message", huge.Status.Detail);
            var both = await SinkSlice(new SharedSlice { Region = a.Region, Offset = 0, Length = 1 }, 1, withData: true);
            Assert.Equal(StatusCode.InvalidArgument, both.StatusCode);
            var unknown = await SinkSlice(new SharedSlice { Region = "conceptsuite-shm-1-00", Offset = 0, Length = 1 });
            Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
            // A slice whose length disagrees with the block's shape fails the usual block check.
            var mismatch = await SinkSlice(new SharedSlice { Region = a.Region, Offset = 0, Length = 8 }, 4);
            Assert.Equal(StatusCode.InvalidArgument, mismatch.StatusCode);

            await client.ReleaseRegionAsync(new RegionRequest { Region = a.Region });
            await client.ReleaseRegionAsync(new RegionRequest { Region = b.Region });
            Assert.Empty(Directory.GetFiles(dir));
            Assert.Equal(0, server.Services.GetRequiredService<SharedRegions>().LiveBytes);
            // The server kept serving: a region can be had again.
            await client.ReleaseRegionAsync(new RegionRequest { Region = (await client.CreateRegionAsync(new CreateRegionRequest { Bytes = 2 << 20 })).Region });
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public async Task AStolenRegionNameIsRefusedToAnotherKey()
    {
        await using var server = await ServerAsync();
        using var owner = server.ChannelWithKey(KeyA);
        using var thief = server.ChannelWithKey(KeyB);
        var region = await new SharedMemory.SharedMemoryClient(owner).CreateRegionAsync(new CreateRegionRequest { Bytes = 1 << 20 });
        var secret = Payload(4096, 7);
        using (var file = SharedRegionFile.Open(region.Path, region.Bytes)) file.Write(0, secret);
        var slice = new SharedSlice { Region = region.Region, Offset = 0, Length = secret.Length };
        TensorBlock SharedBlock()
        {
            var b = new TensorBlock { Tensor = new Tensor { Dtype = DType.Uint8 }, Shared = slice.Clone() };
            b.Tensor.Shape.Add(secret.Length);
            return b;
        }

        // The thief can neither read it through a stage nor renew or release it; it is told the region does not exist.
        using (var echo = new TensorTransport.TensorTransportClient(thief).Echo())
        {
            await echo.RequestStream.WriteAsync(SharedBlock());
            await echo.RequestStream.CompleteAsync();
            var e = await Assert.ThrowsAsync<RpcException>(async () => await echo.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal(StatusCode.NotFound, e.StatusCode);
        }
        var thiefRegions = new SharedMemory.SharedMemoryClient(thief);
        Assert.Equal(StatusCode.NotFound, await CodeOf(async () => await thiefRegions.RenewRegionAsync(new RegionRequest { Region = region.Region })));
        Assert.Equal(StatusCode.NotFound, await CodeOf(async () => await thiefRegions.ReleaseRegionAsync(new RegionRequest { Region = region.Region })));
        // Without a key the call never gets that far.
        using var none = server.ChannelWithKey(null);
        Assert.Equal(StatusCode.Unauthenticated, await CodeOf(async () => await new SharedMemory.SharedMemoryClient(none).CreateRegionAsync(new CreateRegionRequest { Bytes = 1 })));

        // The owner still reads it.
        using var mine = new TensorTransport.TensorTransportClient(owner).Echo();
        await mine.RequestStream.WriteAsync(SharedBlock());
        await mine.RequestStream.CompleteAsync();
        Assert.True(await mine.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(secret, mine.ResponseStream.Current.Tensor.Data.ToByteArray());
    }

    [Fact]
    public async Task RepliesTravelThroughSharedMemoryOnlyToACallerThatAsksFromThisHost()
    {
        await using var server = await ServerAsync();
        using var channel = server.ChannelWithKey(KeyA);
        var plain = new TensorTransport.TensorTransportClient(channel);
        var data = Payload(1 << 20, 11);
        async Task<TensorBlock> EchoOnce(Metadata headers)
        {
            using var echo = plain.Echo(headers);
            await echo.RequestStream.WriteAsync(Block(data, 0, 1024));
            await echo.RequestStream.CompleteAsync();
            Assert.True(await echo.ResponseStream.MoveNext(CancellationToken.None));
            return echo.ResponseStream.Current;
        }
        // Another host's boot id, or none: inline.
        var inline = await EchoOnce(new Metadata { { SharedSliceInterceptor.AcceptHeader, Guid.NewGuid().ToString() } });
        Assert.Null(inline.Shared);
        Assert.Equal(data, inline.Tensor.Data.ToByteArray());
        // This host's: a slice of a region created for the caller's key, with its path.
        var sliced = await EchoOnce(new Metadata { { SharedSliceInterceptor.AcceptHeader, SharedRegionFile.BootId! } });
        Assert.NotNull(sliced.Shared);
        Assert.True(sliced.Tensor.Data.IsEmpty);
        Assert.Equal(data.Length, sliced.Shared.Length);
        using (var file = SharedRegionFile.Open(sliced.Shared.Path, new FileInfo(sliced.Shared.Path).Length))
        {
            var back = new byte[data.Length];
            file.Read(sliced.Shared.Offset, back);
            Assert.Equal(data, back);
        }
        // The region is the caller's: another key cannot release it; the caller can.
        using (var thief = server.ChannelWithKey(KeyB))
            Assert.Equal(StatusCode.NotFound, await CodeOf(async () => await new SharedMemory.SharedMemoryClient(thief).ReleaseRegionAsync(new RegionRequest { Region = sliced.Shared.Region })));
        await new SharedMemory.SharedMemoryClient(channel).ReleaseRegionAsync(new RegionRequest { Region = sliced.Shared.Region });

        // Through a link both directions share, and the reply's regions are released when it ends.
        await using var link = new SharedMemoryLink(channel.CreateCallInvoker());
        var shared = new TensorTransport.TensorTransportClient(channel.Intercept(link.Interceptor));
        var blocks = Enumerable.Range(0, 80).Select(i => Payload(1 << 20, 100 + i)).ToArray();
        var received = new List<byte[]>();
        using (var echo = shared.Echo())
        {
            var send = Task.Run(async () =>
            {
                long row = 0;
                foreach (var b in blocks) { await echo.RequestStream.WriteAsync(Block(b, row, 80 * 1024)); row += 1024; }
                await echo.RequestStream.CompleteAsync();
            });
            while (await echo.ResponseStream.MoveNext(CancellationToken.None))
            {
                Assert.Null(echo.ResponseStream.Current.Shared);
                received.Add(echo.ResponseStream.Current.Tensor.Data.ToByteArray());
            }
            await send;
        }
        Assert.Equal(blocks, received);
        Assert.Equal(2 * 80L << 20, link.SharedBytes);
        var regions = server.Services.GetRequiredService<SharedRegions>();
        var sw = Stopwatch.StartNew();
        // Left: only the request regions the link pools (two of 64 MiB).
        while (regions.LiveBytes > 2 * SharedMemoryLink.RegionBytes && sw.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(20);
        Assert.Equal(2 * SharedMemoryLink.RegionBytes, regions.LiveBytes);
    }

    [Fact]
    public async Task ALinkToAServerWithoutSharedMemorySendsInline()
    {
        await using var server = await ServerAsync(("ConceptSuite:SharedMemory:Enabled", "false"));
        using var channel = server.ChannelWithKey(KeyA);
        await using var link = new SharedMemoryLink(channel.CreateCallInvoker());
        var client = new TensorTransport.TensorTransportClient(channel.Intercept(link.Interceptor));
        var data = Payload(1 << 20, 1);
        var (summary, _) = await SinkAsync(client, [Block(data, 0, 1024)]);
        Assert.Equal(data.Length, summary.Bytes);
        Assert.Equal(0, link.SharedBytes);
        Assert.Contains("Unimplemented", link.InlineReason);
    }

    [Fact]
    public void TheChecksumSumsLittleEndianWords()
    {
        // 8 words 1..8 and a 3-byte tail 0x01 0x02 0x03 → 36 + 0x030201.
        var bytes = new byte[67];
        for (int i = 0; i < 8; i++) BitConverter.TryWriteBytes(bytes.AsSpan(i * 8), (ulong)(i + 1));
        bytes[64] = 1; bytes[65] = 2; bytes[66] = 3;
        Assert.Equal(36UL + 0x030201UL, TensorTransportService.Checksum(bytes));
        var words = MemoryMarshal.Cast<byte, ulong>(Payload(1 << 16, 3).AsSpan());
        ulong expected = 0;
        foreach (var w in words) expected += w;
        Assert.Equal(expected, TensorTransportService.Checksum(MemoryMarshal.AsBytes(words)));
    }
}
