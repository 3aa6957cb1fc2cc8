using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Server;
using Grpc.Net.Client;

namespace ConceptSuite.Benchmarks;

/// <summary>
/// Streams float32 tensors through the server's TensorTransport over loopback HTTP/2 (Kestrel,
/// sockets): one way (client stream into Sink) and round trip (Echo, both directions at once),
/// and copies the same bytes with memcpy in the same run as the ceiling.
/// Options: --gib N (default 1), --block-bytes B (default 1 MiB; a comma list sweeps).
/// Last line: transport one-way-MBps=x echo-MBps=y memcpy-MBps=z ratio=x/z.
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
        await app.StartAsync();
        try
        {
            using var channel = SuiteChannel.Create($"http://127.0.0.1:{port}");
            var client = new TensorTransport.TensorTransportClient(channel);
            double memcpy = Memcpy(bytes, totalBytes);
            Console.WriteLine($"memcpy: {memcpy:F0} MB/s ({totalBytes / 1e6:F0} MB)");
            double bestOneWay = 0, bestEcho = 0;
            foreach (var block in blockSizes)
            {
                await OneWay(client, bytes, Math.Min(totalBytes, 256L << 20), block); // warm up (tiered JIT reaches its optimized code)
                var cost = CpuCost.Start();
                double oneWay = await OneWay(client, bytes, totalBytes, block);
                var oneWayCost = cost.Stop(totalBytes);
                cost = CpuCost.Start();
                double echo = await Echo(client, bytes, totalBytes, block);
                var echoCost = cost.Stop(totalBytes);
                Console.WriteLine($"block {block >> 10} KiB: one-way {oneWay:F0} MB/s ({oneWayCost}), echo {echo:F0} MB/s ({echoCost}) (payload each way)");
                if (oneWay > bestOneWay) { bestOneWay = oneWay; bestEcho = echo; }
            }
            Console.WriteLine($"transport one-way-MBps={bestOneWay:F0} echo-MBps={bestEcho:F0} memcpy-MBps={memcpy:F0} ratio={bestOneWay / memcpy:F4}");
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

    static async Task<double> OneWay(TensorTransport.TensorTransportClient client, byte[] bytes, long totalBytes, int blockBytes)
    {
        var sw = Stopwatch.StartNew();
        using var call = client.Sink();
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
        while (await call.ResponseStream.MoveNext(CancellationToken.None)) received += call.ResponseStream.Current.Tensor.Data.Length;
        await send;
        sw.Stop();
        return received / sw.Elapsed.TotalSeconds / 1e6;
    }

    /// <summary>
    /// Process CPU seconds (user + system, both sides of the connection) per GiB moved and the
    /// garbage collections it took: unlike MB/s, this changes little when the machine is shared.
    /// </summary>
    readonly record struct CpuCost(TimeSpan Cpu, int Gen0, int Gen1, int Gen2)
    {
        public static CpuCost Start() => new(Process.GetCurrentProcess().TotalProcessorTime, GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));

        public string Stop(long bytes)
        {
            var cpu = (Process.GetCurrentProcess().TotalProcessorTime - Cpu).TotalSeconds / (bytes / (double)(1L << 30));
            return $"cpu {cpu:F2} s/GiB, gc {GC.CollectionCount(0) - Gen0}/{GC.CollectionCount(1) - Gen1}/{GC.CollectionCount(2) - Gen2}";
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
