using System.Diagnostics;
using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Benchmarks;

/// <summary>
/// The TorchSharp 0.107 finalizer race under stress: tensor arithmetic with implicit Scalar
/// arguments (x.mul(2.0), add, sub, in-place forms) on several threads, while another thread forces
/// full garbage collections and runs the finalizers in a loop, for a bounded time. Each result is
/// checked exactly (a freed Scalar read by libtorch gives a wrong coefficient or the
/// <c>c10/core/Scalar.h</c> error). Exit code 1 on any wrong value or error: run it several times
/// against the build's rewritten TorchSharp.dll and against the package's original one.
///   benchmarks finalizer-stress [--seconds 10] [--threads 2]
/// </summary>
public static class FinalizerStress
{
    public static Task<int> RunAsync(string[] args)
    {
        double seconds = double.Parse(Arg(args, "--seconds", "10"), CultureInfo.InvariantCulture);
        int threads = int.Parse(Arg(args, "--threads", "2"), CultureInfo.InvariantCulture);
        var asm = typeof(torch).Assembly.Location;
        Console.WriteLine($"finalizer stress: {threads} arithmetic threads and one collecting thread for {seconds} s; TorchSharp {asm} ({new FileInfo(asm).Length} bytes)");
        var stop = DateTime.UtcNow.AddSeconds(seconds);
        long collections = 0, operations = 0, wrong = 0, errors = 0;
        string? first = null;
        var gc = new Thread(() =>
        {
            while (DateTime.UtcNow < stop)
            {
                GC.Collect(2, GCCollectionMode.Forced, blocking: true);
                GC.WaitForPendingFinalizers();
                Interlocked.Increment(ref collections);
            }
        }) { IsBackground = true };
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            using var x = ones(256);
            while (DateTime.UtcNow < stop)
            {
                try
                {
                    for (int i = 0; i < 64; i++)
                    {
                        // No dispose scope and no using: the temporaries, Scalars included, are left to the finalizers.
                        var y = x.mul(2.0).add(3.0).sub(1.0).div(4.0);      // (1·2 + 3 − 1)/4 = 1
                        var z = y.mul_(8.0).add_(-7.0, 1.0);                // 1·8 − 7 = 1
                        var sum = z.sum().item<float>();
                        Interlocked.Increment(ref operations);
                        if (sum != 256f)
                        {
                            Interlocked.Increment(ref wrong);
                            Interlocked.CompareExchange(ref first, $"wrong value: sum {sum}, expected 256", null);
                        }
                    }
                }
                catch (Exception e)
                {
                    Interlocked.Increment(ref errors);
                    Interlocked.CompareExchange(ref first, $"{e.GetType().Name}: {e.Message.Split('\n')[0]}", null);
                }
            }
        }) { IsBackground = true }).ToList();
        var sw = Stopwatch.StartNew();
        gc.Start();
        foreach (var w in workers) w.Start();
        foreach (var w in workers) w.Join();
        gc.Join();
        bool failed = wrong + errors > 0;
        Console.WriteLine($"finalizer-stress: {(failed ? "FAILED" : "ok")}: {operations} checked results, {wrong} wrong, {errors} errors, {collections} forced full collections in {sw.Elapsed.TotalSeconds:F1} s"
            + (first is null ? "" : $"; first: {first}"));
        return Task.FromResult(failed ? 1 : 0);
    }

    static string Arg(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }
}
