using ConceptSuite.Benchmarks;
using ConceptSuite.Core.Hosting;

// The benchmarks run the stages' code in this process: the same OpenMP spin as the server's.
TorchRuntime.Configure();

// dotnet run -c Release --project tests/Benchmarks -- <name> [options]
// Each benchmark prints its figures and, last, one summary line starting with its name.
var benchmarks = new Dictionary<string, Func<string[], Task<int>>>(StringComparer.OrdinalIgnoreCase)
{
    ["transport"] = TransportBenchmark.RunAsync,
    ["transport-workflow"] = TransportWorkflowBenchmark.RunAsync,
    ["discovery"] = DiscoveryBenchmark.RunAsync,
    ["generate"] = GenerateBenchmark.RunAsync,
    ["embed"] = EmbeddingBenchmark.RunAsync,
    ["bottleneck"] = BottleneckBenchmark.RunAsync,
    ["explain"] = ExplainBenchmark.RunAsync,
    ["load"] = LoadBenchmark.RunAsync,
    ["naming"] = NamingBenchmark.RunAsync,
    ["finalizer-stress"] = FinalizerStress.RunAsync,
};

if (args.Length == 0 || !benchmarks.TryGetValue(args[0], out var run))
{
    Console.Error.WriteLine($"usage: benchmarks <{string.Join("|", benchmarks.Keys)}> [options]");
    return 2;
}
return await run(args[1..]);
