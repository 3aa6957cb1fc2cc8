using System.Runtime.InteropServices;
using TorchSharp;

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
/// <para>
/// Thread counts. An OpenMP team size is a setting of each native thread (libtorch gives a thread
/// the process-wide count the first time it runs a parallel operation, and <c>set_num_threads</c>
/// changes the calling thread's). libtorch's reductions split their work by the team size, so a
/// sum taken on a thread with a team of 1 and the same sum on a thread with a team of 2 can differ
/// in the last bit, and a job whose continuations land on pool threads of mixed history gives
/// another artifact id. <see cref="RunPinned{T}"/> runs a job's code, every continuation after
/// every await included, with the team size the stage is configured for; the job runner starts
/// each job through it.
/// </para>
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

    /// <summary>The team size for a configured <c>ConceptSuite:TorchThreads</c>: itself when positive, else the cores this process may use.</summary>
    public static int Resolve(int configured) => configured > 0 ? configured : Math.Max(1, Environment.ProcessorCount);

    /// <summary>Gives the calling thread a team of <paramref name="threads"/> (cheap when it already has it).</summary>
    public static void Pin(int threads)
    {
        if (torch.get_num_threads() != threads) torch.set_num_threads(threads);
    }

    /// <summary>
    /// Runs <paramref name="body"/> on the thread pool with a team of <paramref name="threads"/>, and
    /// every continuation of its awaits the same way (each resumes on a pool thread that is pinned
    /// first). Work the body hands to <c>Task.Run</c> leaves this and gets whatever team its thread has.
    /// </summary>
    public static Task<T> RunPinned<T>(int threads, Func<Task<T>> body)
    {
        var context = new PinnedContext(threads);
        return Task.Factory.StartNew(() => context.Invoke(body), CancellationToken.None, TaskCreationOptions.DenyChildAttach, TaskScheduler.Default).Unwrap();
    }

    /// <summary>A synchronization context that runs each callback on a pool thread pinned to one team size.</summary>
    sealed class PinnedContext(int threads) : SynchronizationContext
    {
        public override void Post(SendOrPostCallback d, object? state) =>
            ThreadPool.UnsafeQueueUserWorkItem(s => Invoke(() => { d(s); return 0; }), state, preferLocal: false);

        public override void Send(SendOrPostCallback d, object? state) => Invoke(() => { d(state); return 0; });

        public override SynchronizationContext CreateCopy() => this;

        public T Invoke<T>(Func<T> f)
        {
            var previous = Current;
            SetSynchronizationContext(this);
            try
            {
                Pin(threads);
                return f();
            }
            finally { SetSynchronizationContext(previous); }
        }
    }
}
