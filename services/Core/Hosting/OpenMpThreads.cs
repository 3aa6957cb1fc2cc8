using System.Runtime.InteropServices;

namespace ConceptSuite.Core.Hosting;

/// <summary>
/// libtorch's OpenMP runtime (libgomp) keeps each idle worker thread spinning for about 300 000
/// iterations after every parallel region. In the suite's process those spinning threads take the
/// cores that .NET's own threads need between two torch operations: the C# numerical kernels
/// (HALS, the sparse SAE products), gRPC I/O, the micro-batcher. Measured on the 2-core machine,
/// same runs: NMF (20000 × 256, C = 32) 25.5–27.6 ms per iteration with a short spin against
/// 30.9–31.0 ms with the default; the TopK SAE step 123–130 ms against 138–147 ms.
/// <see cref="Configure"/> sets <c>GOMP_SPINCOUNT</c> in the native environment before libtorch
/// loads (libgomp reads it once, when it is loaded), unless the operator set it or
/// <c>OMP_WAIT_POLICY</c> already. Called first thing by the server and the benchmarks; a process
/// that has already run a tensor operation keeps the spin it started with.
/// </summary>
public static class OpenMpThreads
{
    /// <summary>Spin iterations before an idle OpenMP worker sleeps (libgomp's default is 300 000).</summary>
    public const string SpinCount = "10000";

    [DllImport("libc", EntryPoint = "setenv", CharSet = CharSet.Ansi)]
    static extern int SetEnv(string name, string value, int overwrite);

    /// <summary>True when the short spin was set; false when the environment already decides, or off Linux.</summary>
    public static bool Configure()
    {
        if (!OperatingSystem.IsLinux()) return false;
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("GOMP_SPINCOUNT"))
            || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OMP_WAIT_POLICY"))) return false;
        return SetEnv("GOMP_SPINCOUNT", SpinCount, 0) == 0;
    }
}
