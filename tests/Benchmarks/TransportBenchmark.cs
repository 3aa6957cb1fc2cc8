using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Server;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace ConceptSuite.Benchmarks;

/// <summary>
/// Streams float32 tensors through the server's TensorTransport over loopback HTTP/2 (Kestrel,
/// sockets): one way (client stream into Sink) and round trip (Echo, both directions at once; the client parses replies into pooled buffers too),
/// and copies the same bytes with memcpy in the same run as the ceiling. Two more ceilings bound what
/// any protocol above them can reach on the machine: raw TCP (a loopback socket pair, 1 MiB sends) and
/// raw HTTP/2 (one request body streamed into a plain endpoint on the same Kestrel server, from an
/// HttpClient on the suite channel's handler settings: no gRPC framing, no protobuf).
/// Options: --gib N (default 1), --block-bytes B (default 1 MiB; a comma list sweeps). Per block
/// size, three rounds of three senders/receivers, interleaved: the default, the receiver on the
/// generated protobuf parser (no pooled receive buffers), and a sender whose channel buffers tensor
/// streams for retries (a copy of every message); best of each.
/// Then the shared-memory path (SharedMemory regions, slices in the messages) into a Sink that reads
/// every byte (--shm-block-bytes, default 4 MiB): after a warm-up pass, three rounds of two
/// variants, interleaved — the default (the server reads the slices in place) and the server
/// copying each slice out first — best of each.
/// Last lines: transport one-way-MBps=x echo-MBps=y memcpy-MBps=z ratio=x/z, then
/// transport grpc-MBps=G shm-MBps=S tcp-MBps=T memcpy-MBps=M.
/// </summary>
public static class TransportBenchmark
{
    const int RowFloats = 256; // 1 KiB rows

    public static async Task<int> RunAsync(string[] args)
    {
        double gib = Option(args, "--gib", 1.0);
        var blockSizes = OptionList(args, "--block-bytes", [1 << 20]);
        long totalBytes = (long)(gib * (1L << 30));
        int bufferBytes = (int)Math.Min(totalBytes, 64L << 20);
        var buffer = new float[bufferBytes / 4];
        for (int i = 0; i < buffer.Length; i++) buffer[i] = i * 1e-3f;
        var bytes = MemoryMarshal.AsBytes(buffer.AsSpan()).ToArray();

        int port = Loopback.FreePort();
        var dataDir = Path.Combine(Path.GetTempPath(), "cs-bench-" + Guid.NewGuid().ToString("N"));
        var app = SuiteApp.Create(["--stages", "core", "--data-dir", dataDir, "--listen", $"http://127.0.0.1:{port}", "--metrics", "",
            "--Logging:LogLevel:Default=Warning"], null);
        app.MapPost("/ceiling/sink", RawSink);
        await app.StartAsync();
        try
        {
            using var channel = SuiteChannel.Create($"http://127.0.0.1:{port}");
            var client = new TensorTransport.TensorTransportClient(channel);
            double memcpy = Memcpy(bytes, totalBytes);
            Console.WriteLine($"memcpy: {memcpy:F0} MB/s ({totalBytes / 1e6:F0} MB)");
            var tcpCost = CpuCost.Start();
            double tcp = await RawTcp(bytes, totalBytes);
            Console.WriteLine($"ceiling raw TCP: {tcp:F0} MB/s ({tcpCost.Stop(totalBytes)})");
            using (var http = new HttpClient(SuiteChannel.CreateHandler()) { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact })
            {
                // Best of three: Kestrel's and the client's HTTP/2 code reaches its tier-1 JIT only after a few GiB.
                for (int pass = 1; pass <= 3; pass++)
                {
                    var h2Cost = CpuCost.Start();
                    double h2 = await RawHttp2(http, $"http://127.0.0.1:{port}/ceiling/sink", bytes, totalBytes);
                    Console.WriteLine($"ceiling raw HTTP/2 (Kestrel + SocketsHttpHandler, no gRPC), pass {pass}: {h2:F0} MB/s ({h2Cost.Stop(totalBytes)})");
                }
            }
            double bestOneWay = 0, bestEcho = 0;
            // Interleaved round by round: the default (the server parses payloads into pooled
            // buffers; the sender's channel has no retry policy for tensor streams), the server on
            // the generated parser (a new array per message), and a sender whose channel retries
            // tensor streams too (gRPC then copies every message it sends into a replay buffer).
            using var replayChannel = SuiteChannel.Create($"http://127.0.0.1:{port}", new SuiteChannelOptions { RetryTensorStreams = true });
            (string Name, bool Pooled, TensorTransport.TensorTransportClient Client)[] parsers =
            [
                ("pooled receive", true, client), ("generated parser", false, client),
                ("pooled receive, sender with replay buffer", true, new TensorTransport.TensorTransportClient(replayChannel)),
            ];
            foreach (var block in blockSizes)
            {
                await OneWay(client, bytes, Math.Min(totalBytes, 256L << 20), block); // warm up (tiered JIT reaches its optimized code)
                var bestOf = new double[parsers.Length];
                var cpuOf = new double[parsers.Length];
                for (int round = 1; round <= 3; round++)
                    for (int v = 0; v < parsers.Length; v++)
                    {
                        ReceivedBlocks.Enabled = parsers[v].Pooled;
                        var cost = CpuCost.Start();
                        double mbps = await OneWay(parsers[v].Client, bytes, totalBytes, block);
                        var spent = cost.Stop(totalBytes, out double cpu);
                        Console.WriteLine($"block {block >> 10} KiB, one-way, {parsers[v].Name}, round {round}: {mbps:F0} MB/s ({spent})");
                        bestOf[v] = Math.Max(bestOf[v], mbps);
                        cpuOf[v] += cpu / 3;
                    }
                ReceivedBlocks.Enabled = true;
                var (pooledBytes, returnedBytes) = ReceivedBlocks.Counters;
                Console.WriteLine($"pooled receive so far: {pooledBytes / 1e6:F0} MB parsed into pooled buffers, {returnedBytes / 1e6:F0} MB returned");
                Console.WriteLine($"block {block >> 10} KiB one-way best of three: pooled {bestOf[0]:F0}, generated parser {bestOf[1]:F0} MB/s ({bestOf[0] / bestOf[1]:F2}x), " +
                                  $"sender with replay buffer {bestOf[2]:F0} MB/s ({bestOf[0] / bestOf[2]:F2}x); mean CPU {cpuOf[0]:F2}, {cpuOf[1]:F2}, {cpuOf[2]:F2} s/GiB");
                var echoCost = CpuCost.Start();
                double echo = await Echo(new TensorTransport.TensorTransportClient(new PooledReceiveInvoker(channel.CreateCallInvoker())), bytes, totalBytes, block);
                Console.WriteLine($"block {block >> 10} KiB: echo {echo:F0} MB/s ({echoCost.Stop(totalBytes)}) (payload each way)");
                if (bestOf[0] > bestOneWay) { bestOneWay = bestOf[0]; bestEcho = echo; }
            }
            Console.WriteLine($"transport one-way-MBps={bestOneWay:F0} echo-MBps={bestEcho:F0} memcpy-MBps={memcpy:F0} ratio={bestOneWay / memcpy:F4}");

            // Shared memory: the same blocks into Sink, which reads every byte (x-touch), through
            // regions of the server; the request messages carry slices.
            await using var link = new SharedMemoryLink(channel.CreateCallInvoker());
            var shmClient = new TensorTransport.TensorTransportClient(channel.Intercept(link.Interceptor));
            var touch = new Grpc.Core.Metadata { { "x-touch", "1" } };
            int shmBlock = (int)Option(args, "--shm-block-bytes", 4 << 20);
            var shmOptions = app.Services.GetRequiredService<ConceptSuite.Core.Transport.SharedRegions>().Options;
            // Two variants, interleaved round by round so that warm-up and the link's region pool
            // favour neither: the default (the server reads each slice in place) and the server
            // copying each slice out first (ReadInPlace off).
            (string Name, bool InPlace)[] variants = [("read in place", true), ("copied out on receipt", false)];
            var best = new double[variants.Length];
            await OneWay(shmClient, bytes, totalBytes, shmBlock, touch); // warm-up: JIT and the first regions
            for (int round = 1; round <= 3; round++)
                for (int v = 0; v < variants.Length; v++)
                {
                    shmOptions.ReadInPlace = variants[v].InPlace;
                    var cost = CpuCost.Start();
                    double mbps = await OneWay(shmClient, bytes, totalBytes, shmBlock, touch);
                    Console.WriteLine($"shared memory, block {shmBlock >> 10} KiB, consumer reads every byte, {variants[v].Name}, round {round}: {mbps:F0} MB/s ({cost.Stop(totalBytes)})");
                    best[v] = Math.Max(best[v], mbps);
                }
            shmOptions.ReadInPlace = true;
            if (link.SharedBytes == 0) throw new InvalidOperationException($"the shared-memory path was not taken: {link.InlineReason}");
            double bestShm = best[0];
            Console.WriteLine($"shared memory best of three: read in place {best[0]:F0}, copied out {best[1]:F0} MB/s ({best[0] / best[1]:F2}x)");
            double touchedGrpc;
            touchedGrpc = await OneWay(client, bytes, totalBytes, blockSizes[0], touch);
            Console.WriteLine($"gRPC inline, block {blockSizes[0] >> 10} KiB, consumer reads every byte: {touchedGrpc:F0} MB/s");
            Console.WriteLine($"transport grpc-MBps={bestOneWay:F0} shm-MBps={bestShm:F0} tcp-MBps={tcp:F0} memcpy-MBps={memcpy:F0}");
            return 0;
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            try { Directory.Delete(dataDir, true); } catch (IOException) { }
        }
    }

    static IEnumerable<TensorBlock> Blocks(byte[] bytes, long totalBytes, int blockBytes)
    {
        long rowBytes = RowFloats * 4L;
        long totalRows = totalBytes / rowBytes;
        long bufferRows = bytes.Length / rowBytes;
        long row = 0;
        while (row < totalRows)
        {
            long n = Math.Min(bufferRows, totalRows - row);
            foreach (var b in TensorBlocks.Split(DType.Float32, [n, RowFloats], bytes.AsMemory(0, (int)(n * rowBytes)), "",
                         null, blockBytes, row, totalRows))
                yield return b;
            row += n;
        }
    }

    static async Task<double> OneWay(TensorTransport.TensorTransportClient client, byte[] bytes, long totalBytes, int blockBytes, Grpc.Core.Metadata? headers = null)
    {
        var sw = Stopwatch.StartNew();
        using var call = client.Sink(headers);
        foreach (var b in Blocks(bytes, totalBytes, blockBytes)) await call.RequestStream.WriteAsync(b);
        await call.RequestStream.CompleteAsync();
        var summary = await call;
        sw.Stop();
        if (summary.Bytes != totalBytes / (RowFloats * 4) * RowFloats * 4) throw new InvalidOperationException($"sink saw {summary.Bytes} bytes");
        return summary.Bytes / sw.Elapsed.TotalSeconds / 1e6;
    }

    static async Task<double> Echo(TensorTransport.TensorTransportClient client, byte[] bytes, long totalBytes, int blockBytes)
    {
        var sw = Stopwatch.StartNew();
        using var call = client.Echo();
        var send = Task.Run(async () =>
        {
            foreach (var b in Blocks(bytes, totalBytes, blockBytes)) await call.RequestStream.WriteAsync(b);
            await call.RequestStream.CompleteAsync();
        });
        long received = 0;
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            received += call.ResponseStream.Current.Tensor.Data.Length;
            ReceivedBlocks.Release(call.ResponseStream.Current);
        }
        await send;
        sw.Stop();
        return received / sw.Elapsed.TotalSeconds / 1e6;
    }

    /// <summary>Bytes through a loopback TCP socket pair in this process, 1 MiB per send.</summary>
    static async Task<double> RawTcp(byte[] bytes, long totalBytes)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var receive = Task.Run(async () =>
        {
            using var s = await listener.AcceptSocketAsync();
            var buffer = new byte[1 << 20];
            long got = 0;
            int n;
            while ((n = await s.ReceiveAsync(buffer, SocketFlags.None)) > 0) got += n;
            return got;
        });
        using var sender = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await sender.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        var sw = Stopwatch.StartNew();
        for (long sent = 0; sent < totalBytes;)
        {
            int n = (int)Math.Min(Math.Min(1 << 20, bytes.Length), totalBytes - sent);
            sent += await sender.SendAsync(bytes.AsMemory(0, n), SocketFlags.None);
        }
        sender.Shutdown(SocketShutdown.Send);
        long received = await receive;
        return received / sw.Elapsed.TotalSeconds / 1e6;
    }

    /// <summary>Reads a request body to its end and answers the byte count (the raw HTTP/2 ceiling's server side).</summary>
    static async Task RawSink(HttpContext context)
    {
        context.Features.Get<IHttpMaxRequestBodySizeFeature>()!.MaxRequestBodySize = null;
        var buffer = new byte[1 << 20];
        long got = 0;
        int n;
        while ((n = await context.Request.Body.ReadAsync(buffer)) > 0) got += n;
        await context.Response.WriteAsync(got.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>One HTTP/2 request whose body streams the bytes in 1 MiB writes.</summary>
    static async Task<double> RawHttp2(HttpClient http, string url, byte[] bytes, long totalBytes)
    {
        var sw = Stopwatch.StartNew();
        var content = new PushContent(async stream =>
        {
            for (long sent = 0; sent < totalBytes;)
            {
                int n = (int)Math.Min(Math.Min(1 << 20, bytes.Length), totalBytes - sent);
                await stream.WriteAsync(bytes.AsMemory(0, n));
                sent += n;
            }
        });
        using var response = await http.PostAsync(url, content);
        response.EnsureSuccessStatusCode();
        long received = long.Parse(await response.Content.ReadAsStringAsync(), System.Globalization.CultureInfo.InvariantCulture);
        if (received != totalBytes) throw new InvalidOperationException($"raw HTTP/2 sink received {received} of {totalBytes} bytes");
        return received / sw.Elapsed.TotalSeconds / 1e6;
    }

    sealed class PushContent(Func<Stream, Task> write) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => write(stream);
        protected override bool TryComputeLength(out long length) { length = 0; return false; }
    }

    /// <summary>
    /// Process CPU seconds (user + system, both sides of the connection) per GiB moved and the
    /// garbage collections it took: unlike MB/s, this changes little when the machine is shared.
    /// </summary>
    readonly record struct CpuCost(TimeSpan Cpu, int Gen0, int Gen1, int Gen2, long Allocated)
    {
        public static CpuCost Start() => new(Process.GetCurrentProcess().TotalProcessorTime, GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2),
            GC.GetTotalAllocatedBytes());

        public string Stop(long bytes) => Stop(bytes, out _);

        public string Stop(long bytes, out double cpuSecondsPerGiB)
        {
            var cpu = cpuSecondsPerGiB = (Process.GetCurrentProcess().TotalProcessorTime - Cpu).TotalSeconds / (bytes / (double)(1L << 30));
            double allocated = (GC.GetTotalAllocatedBytes() - Allocated) / (double)bytes;
            return $"cpu {cpu:F2} s/GiB, gc {GC.CollectionCount(0) - Gen0}/{GC.CollectionCount(1) - Gen1}/{GC.CollectionCount(2) - Gen2}, allocated {allocated:F2} B/B";
        }
    }

    static double Memcpy(byte[] source, long totalBytes)
    {
        var dest = new byte[source.Length];
        source.AsSpan().CopyTo(dest); // touch pages
        var sw = Stopwatch.StartNew();
        long done = 0;
        while (done < totalBytes)
        {
            int n = (int)Math.Min(source.Length, totalBytes - done);
            source.AsSpan(0, n).CopyTo(dest);
            done += n;
        }
        sw.Stop();
        GC.KeepAlive(dest);
        return done / sw.Elapsed.TotalSeconds / 1e6;
    }


    internal static double Option(string[] args, string name, double fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? double.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture) : fallback;
    }

    static int[] OptionList(string[] args, string name, int[] fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1].Split(',').Select(int.Parse).ToArray() : fallback;
    }
}
