namespace ConceptSuite.Benchmarks;

public static class TransportBenchmark
{
    public static Task<int> RunAsync(string[] args) => throw new NotImplementedException();
}
