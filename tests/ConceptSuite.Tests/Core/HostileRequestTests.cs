using System.Collections;
using System.Reflection;
using ConceptSuite.Bottleneck.Methods;
using ConceptSuite.Contracts;
using ConceptSuite.Tests.Infrastructure;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Core;
using Grpc.Health.V1;
using Xunit.Abstractions;

namespace ConceptSuite.Tests.Core;

/// <summary>
/// Hostile requests against every RPC of every service of the contract (enumerated from the
/// generated descriptors): well-formed random messages, mutated ones and garbage bytes through a
/// raw byte call, and the amplification cases (tiny blocks that would expand, huge declared
/// shapes, huge labels and counts). No answer may be UNKNOWN or INTERNAL, the server stays up
/// and its peak RSS stays bounded. CONCEPTSUITE_FUZZ_ROUNDS (default 2) sets the rounds per RPC
/// and kind, CONCEPTSUITE_FUZZ_SEED (default 1) the seed: the long run is
/// <c>CONCEPTSUITE_FUZZ_ROUNDS=40 dotnet test tests/ConceptSuite.Tests -c Release --filter FullyQualifiedName~HostileRequestTests</c>.
/// </summary>
[Collection(MemoryMeasuredCollection.Name)]
public class HostileRequestTests(ITestOutputHelper output)
{
    const long Budget = 1L << 30;

    static readonly Marshaller<byte[]> Raw = Marshallers.Create(b => b, b => b);

    static int Env(string name, int fallback) => int.TryParse(Environment.GetEnvironmentVariable(name), out var v) ? v : fallback;

    static Task<SuiteTestServer> StartAsync() =>
        SuiteTestServer.StartAsync("all", null, ("ConceptSuite:MaxCallBytes", Budget.ToString()), ("ConceptSuite:MaxConcurrentJobs", "1"));

    /// <summary>Every service of the contract: the file descriptors of the generated reflection classes.</summary>
    static IEnumerable<ServiceDescriptor> Services() =>
        typeof(TensorBlock).Assembly.GetTypes()
            .Where(t => t.Name.EndsWith("Reflection", StringComparison.Ordinal))
            .Select(t => t.GetProperty("Descriptor", BindingFlags.Public | BindingFlags.Static)?.GetValue(null))
            .OfType<FileDescriptor>()
            .SelectMany(f => f.Services)
            .OrderBy(s => s.FullName, StringComparer.Ordinal);

    /// <summary>One raw call of <paramref name="m"/> with <paramref name="messages"/> as the request bytes; the status it ended with.</summary>
    static async Task<StatusCode> CallAsync(CallInvoker invoker, MethodDescriptor m, IReadOnlyList<byte[]> messages)
    {
        var type = (m.IsClientStreaming, m.IsServerStreaming) switch
        {
            (false, false) => MethodType.Unary,
            (false, true) => MethodType.ServerStreaming,
            (true, false) => MethodType.ClientStreaming,
            _ => MethodType.DuplexStreaming,
        };
        var method = new Method<byte[], byte[]>(type, m.Service.FullName, m.Name, Raw, Raw);
        var options = new CallOptions(deadline: DateTime.UtcNow.AddSeconds(8));
        var first = messages.Count > 0 ? messages[0] : [];
        try
        {
            switch (type)
            {
                case MethodType.Unary:
                    await invoker.AsyncUnaryCall(method, null, options, first).ResponseAsync;
                    break;
                case MethodType.ServerStreaming:
                {
                    using var call = invoker.AsyncServerStreamingCall(method, null, options, first);
                    while (await call.ResponseStream.MoveNext(CancellationToken.None)) { }
                    break;
                }
                case MethodType.ClientStreaming:
                {
                    using var call = invoker.AsyncClientStreamingCall(method, null, options);
                    await WriteAllAsync(call.RequestStream, messages);
                    await call.ResponseAsync;
                    break;
                }
                default:
                {
                    using var call = invoker.AsyncDuplexStreamingCall(method, null, options);
                    var reading = Task.Run(async () => { while (await call.ResponseStream.MoveNext(CancellationToken.None)) { } });
                    await WriteAllAsync(call.RequestStream, messages);
                    await reading;
                    break;
                }
            }
            return StatusCode.OK;
        }
        catch (RpcException e) { return e.StatusCode; }
    }

    static async Task WriteAllAsync(IClientStreamWriter<byte[]> stream, IReadOnlyList<byte[]> messages)
    {
        // A server that has already answered refuses further writes: the answer is what counts.
        try
        {
            foreach (var m in messages) await stream.WriteAsync(m);
            await stream.CompleteAsync();
        }
        catch (RpcException) { }
        catch (InvalidOperationException) { }
    }

    /// <summary>Random well-formed messages: every field set with probability ½ to a value drawn from the edges of its type.</summary>
    sealed class MessageFuzzer(Random rng)
    {
        static readonly long[] Longs = [0, 1, -1, 2, 3, 7, 255, 4096, 1L << 20, 1L << 31, 1L << 40, long.MaxValue, long.MinValue];
        static readonly int[] Ints = [0, 1, -1, 2, 3, 7, 255, 4096, 1 << 20, int.MaxValue, int.MinValue];
        static readonly double[] Doubles = [0, 1, -1, 0.5, 1e30, double.NaN, double.PositiveInfinity, double.Epsilon];
        static readonly string[] Strings = ["", "a", "resnet18", "sobol", "rise", "linear_probe", "concept-shapes", "../../etc/passwd", "0123456789abcdef", "\u0000\uffff", new string('x', 5000)];

        public IMessage Message(MessageDescriptor d, int depth)
        {
            var msg = (IMessage)Activator.CreateInstance(d.ClrType)!;
            if (depth > 3) return msg;
            foreach (var f in d.Fields.InDeclarationOrder())
            {
                if (rng.Next(2) == 0 || IsWrapper(f)) continue;
                if (f.IsMap)
                {
                    var map = (IDictionary)f.Accessor.GetValue(msg);
                    var keyField = f.MessageType.FindFieldByNumber(1);
                    var valueField = f.MessageType.FindFieldByNumber(2);
                    for (int i = rng.Next(3); i > 0; i--)
                    {
                        var key = Value(keyField, depth + 1);
                        if (!map.Contains(key)) map[key] = Value(valueField, depth + 1);
                    }
                }
                else if (f.IsRepeated)
                {
                    var list = (IList)f.Accessor.GetValue(msg);
                    for (int i = rng.Next(4); i > 0; i--) list.Add(Value(f, depth + 1));
                }
                else f.Accessor.SetValue(msg, Value(f, depth + 1));
            }
            return msg;
        }

        static bool IsWrapper(FieldDescriptor f) => f.FieldType == FieldType.Message && f.MessageType.File.Package == "google.protobuf" && f.MessageType.Name.EndsWith("Value", StringComparison.Ordinal);

        object Value(FieldDescriptor f, int depth) => f.FieldType switch
        {
            FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32 => Pick(Ints),
            FieldType.Int64 or FieldType.SInt64 or FieldType.SFixed64 => Pick(Longs),
            FieldType.UInt32 or FieldType.Fixed32 => unchecked((uint)Pick(Ints)),
            FieldType.UInt64 or FieldType.Fixed64 => unchecked((ulong)Pick(Longs)),
            FieldType.Bool => rng.Next(2) == 1,
            FieldType.Float => (float)Pick(Doubles),
            FieldType.Double => Pick(Doubles),
            FieldType.String => rng.Next(4) == 0 ? RandomText() : Pick(Strings),
            FieldType.Bytes => ByteString.CopyFrom(RandomBytes(rng.Next(4) == 0 ? 4096 : 24)),
            FieldType.Enum => Enum.ToObject(f.EnumType.ClrType, rng.Next(3) == 0 ? rng.Next(-2, 50) : f.EnumType.Values[rng.Next(f.EnumType.Values.Count)].Number),
            FieldType.Message => Message(f.MessageType, depth),
            _ => throw new NotSupportedException(f.FieldType.ToString()),
        };

        T Pick<T>(T[] values) => values[rng.Next(values.Length)];

        string RandomText() => new(Enumerable.Range(0, rng.Next(1, 40)).Select(_ => (char)rng.Next(32, 127)).ToArray());

        public byte[] RandomBytes(int max)
        {
            var b = new byte[rng.Next(1, max + 1)];
            rng.NextBytes(b);
            return b;
        }

        /// <summary>A well-formed message's bytes flipped, cut, extended or spliced.</summary>
        public byte[] Mutate(byte[] bytes)
        {
            var b = bytes.Length == 0 ? RandomBytes(8) : (byte[])bytes.Clone();
            switch (rng.Next(4))
            {
                case 0: for (int i = 0; i < 1 + b.Length / 16; i++) b[rng.Next(b.Length)] ^= (byte)(1 << rng.Next(8)); return b;
                case 1: return b[..rng.Next(b.Length)];
                case 2: return [.. b, .. RandomBytes(16)];
                default: int at = rng.Next(b.Length); return [.. b[..at], 0xff, 0xff, 0xff, 0xff, 0x0f, .. b[at..]];
            }
        }
    }

    [Fact]
    public async Task Random_mutated_and_garbage_requests_to_every_rpc_answer_named_statuses_and_the_server_stays_up()
    {
        int rounds = Env("CONCEPTSUITE_FUZZ_ROUNDS", 2);
        var rng = new Random(Env("CONCEPTSUITE_FUZZ_SEED", 1));
        var fuzzer = new MessageFuzzer(rng);
        await using var server = await StartAsync();
        var invoker = server.Channel.CreateCallInvoker();
        var counts = new SortedDictionary<string, int>();
        var bad = new List<string>();
        int methods = 0;
        PeakRss.Reset();
        long before = PeakRss.CurrentBytes();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        foreach (var service in Services())
        foreach (var m in service.Methods)
        {
            methods++;
            for (int r = 0; r < rounds; r++)
            foreach (var kind in new[] { "random", "mutated", "garbage" })
            {
                int count = m.IsClientStreaming ? rng.Next(1, 4) : 1;
                var messages = Enumerable.Range(0, count).Select(_ => kind switch
                {
                    "random" => fuzzer.Message(m.InputType, 0).ToByteArray(),
                    "mutated" => fuzzer.Mutate(fuzzer.Message(m.InputType, 0).ToByteArray()),
                    _ => fuzzer.RandomBytes(64),
                }).ToList();
                var status = await CallAsync(invoker, m, messages);
                string key = $"{kind} {status}";
                counts[key] = counts.GetValueOrDefault(key) + 1;
                if (status is StatusCode.Unknown or StatusCode.Internal) bad.Add($"{m.FullName} ({kind}): {status}");
            }
        }
        watch.Stop();
        long grown = PeakRss.PeakBytes() - before;
        output.WriteLine($"{methods} RPCs, {rounds} rounds, {watch.Elapsed.TotalSeconds:F1} s, peak RSS +{grown >> 20} MiB");
        foreach (var (k, v) in counts) output.WriteLine($"{k}: {v}");
        foreach (var b in bad) output.WriteLine("BAD " + b);

        Assert.True(methods >= 40, $"only {methods} RPCs enumerated");
        Assert.Empty(bad);
        var health = await new Health.HealthClient(server.Channel).CheckAsync(new HealthCheckRequest());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);
        Assert.True(grown < 2L << 30, $"peak RSS grew by {grown >> 20} MiB");
    }

    [Fact]
    public async Task Garbage_bytes_to_a_unary_rpc_answer_invalid_argument_naming_the_request_type()
    {
        await using var server = await SuiteTestServer.StartAsync("core");
        var invoker = server.Channel.CreateCallInvoker();
        var method = new Method<byte[], byte[]>(MethodType.Unary, "conceptsuite.v1.ArtifactService", "GetArtifact", Raw, Raw);
        var e = await Assert.ThrowsAsync<RpcException>(() => invoker.AsyncUnaryCall(method, null, new CallOptions(), [0xff, 0xff, 0xff, 0xff, 0x0f]).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("not a valid", e.Status.Detail);
    }

    static TensorBlock Block(string name, DType dtype, long[] shape, byte[] data, long[]? total = null)
    {
        var t = new Tensor { Dtype = dtype, Data = ByteString.CopyFrom(data) };
        t.Shape.Add(shape);
        var b = new TensorBlock { Name = name, Tensor = t };
        if (total is not null) b.TotalShape.Add(total);
        return b;
    }

    static byte[] Floats(int n) => new byte[4 * n];

    static byte[] Longs(params long[] v) => System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.AsSpan()).ToArray();

    static async Task<RpcException> Fails<TRequest, TResponse>(AsyncDuplexStreamingCall<TRequest, TResponse> call, params TRequest[] messages)
    {
        using (call)
            return await Assert.ThrowsAsync<RpcException>(async () =>
            {
                await WriteTypedAsync(call.RequestStream, messages);
                while (await call.ResponseStream.MoveNext(CancellationToken.None)) { }
            });
    }

    static async Task<RpcException> Fails<TRequest, TResponse>(AsyncClientStreamingCall<TRequest, TResponse> call, params TRequest[] messages)
    {
        using (call)
            return await Assert.ThrowsAsync<RpcException>(async () =>
            {
                await WriteTypedAsync(call.RequestStream, messages);
                await call.ResponseAsync;
            });
    }

    static async Task WriteTypedAsync<T>(IClientStreamWriter<T> stream, T[] messages)
    {
        try
        {
            foreach (var m in messages) await stream.WriteAsync(m);
            await stream.CompleteAsync();
        }
        catch (RpcException) { }
        catch (InvalidOperationException) { }
    }

    [Fact]
    public async Task Amplification_requests_answer_a_named_error_in_milliseconds()
    {
        await using var server = await StartAsync();
        var embedding = new EmbeddingService.EmbeddingServiceClient(server.Channel);
        var bottleneck = new BottleneckService.BottleneckServiceClient(server.Channel);
        var explain = new ExplainService.ExplainServiceClient(server.Channel);
        var cases = new List<(string Case, Func<Task<RpcException>> Run, StatusCode Expected, string Field)>
        {
            ("EmbedImages uint8 [3000,1,1,1] (1.8 GB once conformed)", () => Fails(embedding.EmbedImages(),
                new EmbedImagesRequest { Config = new EmbedImagesConfig { Model = "resnet18" } },
                new EmbedImagesRequest { Images = Block("", DType.Uint8, [3000, 1, 1, 1], new byte[3000]) }), StatusCode.ResourceExhausted, "images[0].tensor.shape"),
            ("EmbedImages declared total_shape [2^40,3,4096,4096] on a 1-byte block", () => Fails(embedding.EmbedImages(),
                new EmbedImagesRequest { Config = new EmbedImagesConfig { Model = "resnet18" } },
                new EmbedImagesRequest { Images = Block("", DType.Uint8, [1, 1, 1, 1], [0], [1L << 40, 3, 4096, 4096]) }), StatusCode.InvalidArgument, "total_shape"),
            ("EmbedImages shape [1,3,4096,4096] carrying 3 bytes", () => Fails(embedding.EmbedImages(),
                new EmbedImagesRequest { Config = new EmbedImagesConfig { Model = "resnet18" } },
                new EmbedImagesRequest { Images = Block("", DType.Uint8, [1, 3, 4096, 4096], [0, 0, 0]) }), StatusCode.InvalidArgument, "images[0].tensor"),
            ("ImportDataset header height and width 2^30", () => Fails(embedding.ImportDataset(),
                new ImportDatasetRequest { Header = new ImportDatasetHeader { Name = "x", Height = 1 << 30, Width = 1 << 30 } }), StatusCode.InvalidArgument, "header.height"),
            ("ImportDataset concept-shapes limit 2^40", () => Fails(embedding.ImportDataset(),
                new ImportDatasetRequest { Header = new ImportDatasetHeader { Source = "concept-shapes", Limit = 1L << 40 } }), StatusCode.ResourceExhausted, "header.limit"),
            ("ImportDataset label blocks [0, 2^62]", () => Fails(embedding.ImportDataset(),
                new ImportDatasetRequest { Header = new ImportDatasetHeader { Name = "x" } },
                new ImportDatasetRequest { Block = Block("images", DType.Uint8, [2, 1, 2, 2], new byte[8]) },
                new ImportDatasetRequest { Block = Block("labels", DType.Int64, [2], Longs(0, 1L << 62)) }), StatusCode.InvalidArgument, "labels"),
            ("Bottleneck Train labels [0, 2^40] (a head of 2^40 classes)", () => Fails(bottleneck.Train(),
                new TrainRequest { Config = new TrainConfig { ModelType = LinearProbe.TypeName } },
                new TrainRequest { Block = Block("features", DType.Float32, [2, 2], Floats(4)) },
                new TrainRequest { Block = Block("labels", DType.Int64, [2], Longs(0, 1L << 40)) }), StatusCode.InvalidArgument, "labels"),
            ("ConceptImportance sobol design_size 2^20 over 256 concepts", () => Fails(explain.ConceptImportance(),
                new ConceptImportanceRequest { Config = new ConceptImportanceConfig { Importance = new ImportanceSettings { Method = "sobol", Options = { ["design_size"] = (1 << 20).ToString() } } } },
                new ConceptImportanceRequest { Block = Block("coefficients", DType.Float32, [1, 256], Floats(256)) },
                new ConceptImportanceRequest { Block = Block("targets", DType.Int64, [1], Longs(0)) },
                new ConceptImportanceRequest { Block = Block("head_weight", DType.Float32, [2, 256], Floats(512)) }), StatusCode.ResourceExhausted, "design_size"),
            ("ConceptImportance rise masks 2^20 over 256 concepts", () => Fails(explain.ConceptImportance(),
                new ConceptImportanceRequest { Config = new ConceptImportanceConfig { Importance = new ImportanceSettings { Method = "rise", Options = { ["masks"] = (1 << 20).ToString() } } } },
                new ConceptImportanceRequest { Block = Block("coefficients", DType.Float32, [1, 256], Floats(256)) },
                new ConceptImportanceRequest { Block = Block("targets", DType.Int64, [1], Longs(0)) },
                new ConceptImportanceRequest { Block = Block("head_weight", DType.Float32, [2, 256], Floats(512)) }), StatusCode.ResourceExhausted, "masks"),
            ("AttributionMaps image 2^20 x 2^20", () => Fails(explain.AttributionMaps(),
                new AttributionMapsRequest { Config = new AttributionMapsConfig { ImageHeight = 1 << 20, ImageWidth = 1 << 20 } },
                new AttributionMapsRequest { Block = Block("activations", DType.Float32, [1, 4, 2, 2], Floats(16)) },
                new AttributionMapsRequest { Block = Block("dictionary", DType.Float32, [3, 4], Floats(12)) }), StatusCode.ResourceExhausted, "config.image_height"),
        };
        PeakRss.Reset();
        long before = PeakRss.CurrentBytes();
        var failures = new List<string>();
        foreach (var (name, run, expected, field) in cases)
        {
            var watch = System.Diagnostics.Stopwatch.StartNew();
            var e = await run();
            watch.Stop();
            output.WriteLine($"{name}: {e.StatusCode} in {watch.ElapsedMilliseconds} ms: {e.Status.Detail}");
            if (e.StatusCode != expected || !e.Status.Detail.Contains(field, StringComparison.Ordinal))
                failures.Add($"{name}: expected {expected} naming {field}, got {e.StatusCode} {e.Status.Detail}");
            // Seconds, not milliseconds: the first EmbedImages call loads ResNet18.
            if (watch.ElapsedMilliseconds > 5000) failures.Add($"{name}: took {watch.ElapsedMilliseconds} ms");
        }
        long grown = PeakRss.PeakBytes() - before;
        output.WriteLine($"peak RSS +{grown >> 20} MiB");
        Assert.Empty(failures);
        Assert.True(grown < 512L << 20, $"peak RSS grew by {grown >> 20} MiB");
        var health = await new Health.HealthClient(server.Channel).CheckAsync(new HealthCheckRequest());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);
    }
}
