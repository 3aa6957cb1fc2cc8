using TorchSharp;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Discovery.Numerics;

/// <summary>What the C# kernels share: raw pointers to the storage of contiguous CPU tensors (the native
/// storage does not move) and their split of work into bands run in parallel on torch's thread count.</summary>
static class NativeData
{
    public static unsafe float* Floats(Tensor t) { fixed (byte* p = t.bytes) return (float*)p; }
    public static unsafe long* Longs(Tensor t) { fixed (byte* p = t.bytes) return (long*)p; }

    /// <summary>Threads for a job of <paramref name="units"/> parallel units: torch's thread count, at most one per unit, at least one.</summary>
    public static int Threads(long units) => (int)Math.Max(1, Math.Min(torch.get_num_threads(), units));

    /// <summary>Runs body on <paramref name="threads"/> contiguous bands [lo, hi) of [0, n), in parallel.</summary>
    public static void Bands(long n, int threads, Action<long, long> body)
    {
        if (threads <= 1) { body(0, n); return; }
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t => body(n * t / threads, n * (t + 1) / threads));
    }
}
