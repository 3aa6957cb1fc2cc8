using System.Diagnostics;
using System.Text.Json;
using ConceptSuite.Explain.Importance;
using ConceptSuite.Explain.Representations;
using TorchSharp;

namespace ConceptSuite.Benchmarks;

/// <summary>
/// Times linear CKA, debiased CKA and Sobol total indices at fixed sizes against the same
/// computations in NumPy (Debian python3-numpy on OpenBLAS, /usr/bin/python3) in the same run.
/// Usage: explain [--n 4096] [--d 512] [--gram-n 2048] [--samples 128] [--concepts 32] [--design 64] [--threads 2]
/// </summary>
public static class ExplainBenchmark
{
    const string Peer = """
import json, sys, time
import numpy as np
n, d, gn, samples, k, design = map(int, sys.argv[1:7])
rng = np.random.default_rng(0)
def best(f, reps=3):
    f(); t = []
    for _ in range(reps):
        s = time.perf_counter(); f(); t.append(time.perf_counter() - s)
    return min(t)
x = rng.normal(size=(n, d)); y = np.tanh(x @ rng.normal(size=(d, d)) / np.sqrt(d))
def linear_cka():
    a = x - x.mean(0); b = y - y.mean(0)
    return np.sum((b.T @ a) ** 2) / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b))
gx, gy = x[:gn], y[:gn]
def ucenter(g):
    g = g.copy(); m = g.shape[0]; np.fill_diagonal(g, 0)
    mu = g.sum(0) / (m - 2); mu -= mu.sum() / (2 * (m - 1))
    g -= mu[:, None]; g -= mu[None, :]; np.fill_diagonal(g, 0); return g
def debiased_cka():
    k1, k2 = ucenter(gx @ gx.T), ucenter(gy @ gy.T)
    return (k1 * k2).sum() / (np.linalg.norm(k1) * np.linalg.norm(k2))
w = rng.normal(size=(10, k)); u = np.abs(rng.normal(size=(samples, k))); tg = rng.integers(0, 10, samples)
def sobol():
    out = np.zeros((samples, k))
    ab = rng.random((design, 2 * k)); a, b = ab[:, :k], ab[:, k:]
    c = np.repeat(a[None], k, 0); idx = np.arange(k); c[idx, :, idx] = b[:, idx].T
    masks = np.concatenate([a, b, c.reshape(-1, k)])
    for s in range(samples):
        f = (u[s] * masks) @ w[tg[s]]
        fa, fb, fc = f[:design], f[design:2 * design], f[2 * design:].reshape(k, design)
        out[s] = ((fa[None] - fc) ** 2).mean(1) / 2 / np.var(np.concatenate([fa, fb]))
    return out
print(json.dumps({"linear_cka": best(linear_cka), "debiased_cka": best(debiased_cka), "sobol": best(sobol)}))
""";

    static int Arg(string[] args, string name, int fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : fallback;
    }

    static double Best(Action f, int reps = 3)
    {
        f();
        var best = double.MaxValue;
        for (int r = 0; r < reps; r++)
        {
            var sw = Stopwatch.StartNew();
            f();
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return best;
    }

    public static async Task<int> RunAsync(string[] args)
    {
        int n = Arg(args, "--n", 4096), d = Arg(args, "--d", 512), gramN = Arg(args, "--gram-n", 2048);
        int samples = Arg(args, "--samples", 128), k = Arg(args, "--concepts", 32), design = Arg(args, "--design", 64);
        int threads = Arg(args, "--threads", 2);
        torch.set_num_threads(threads);
        torch.manual_seed(0);
        var x = torch.randn([n, d], torch.ScalarType.Float64);
        var y = torch.tanh(x.matmul(torch.randn([d, d], torch.ScalarType.Float64)) / Math.Sqrt(d));
        var gx = x.narrow(0, 0, gramN);
        var gy = y.narrow(0, 0, gramN);
        var head = new LinearConceptHead(torch.randn([10, k], torch.ScalarType.Float64));
        var u = torch.randn([samples, k], torch.ScalarType.Float64).abs();
        var targets = Enumerable.Range(0, samples).Select(i => (long)(i % 10)).ToArray();
        var sobol = new SobolTotalIndex(design, 1, new RandomDesign());

        double linear = Best(() => new LinearCka().Score(x, y));
        double debiased = Best(() => new DebiasedCka().Score(gx, gy));
        double sob = Best(() => sobol.Explain(head, u, targets).Dispose());

        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-c", Peer, $"{n}", $"{d}", $"{gramN}", $"{samples}", $"{k}", $"{design}" }) psi.ArgumentList.Add(a);
        psi.Environment["OMP_NUM_THREADS"] = $"{threads}";
        psi.Environment["OPENBLAS_NUM_THREADS"] = $"{threads}";
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start /usr/bin/python3");
        var stdout = await p.StandardOutput.ReadToEndAsync();
        var stderr = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0)
        {
            Console.Error.WriteLine($"numpy peer failed ({p.ExitCode}): {stderr}");
            return 1;
        }
        var peer = JsonDocument.Parse(stdout.Trim().Split('\n')[^1]).RootElement;
        double pl = peer.GetProperty("linear_cka").GetDouble(), pd = peer.GetProperty("debiased_cka").GetDouble(), ps = peer.GetProperty("sobol").GetDouble();
        Console.WriteLine($"threads {threads}, float64");
        Console.WriteLine($"linear CKA      N={n} D={d}x{d}:        ConceptSuite {linear * 1e3,8:F1} ms   numpy {pl * 1e3,8:F1} ms   ratio {linear / pl:F2}");
        Console.WriteLine($"debiased CKA    N={gramN} D={d}x{d} (Gram): ConceptSuite {debiased * 1e3,8:F1} ms   numpy {pd * 1e3,8:F1} ms   ratio {debiased / pd:F2}");
        Console.WriteLine($"Sobol (Jansen)  {samples} samples, K={k}, n={design} ({(k + 2) * design} head calls/sample): ConceptSuite {sob * 1e3,8:F1} ms   numpy {ps * 1e3,8:F1} ms   ratio {sob / ps:F2}");
        Console.WriteLine($"explain: linear_cka {linear / pl:F2}x numpy, debiased_cka {debiased / pd:F2}x numpy, sobol {sob / ps:F2}x numpy (time ratios, lower is faster)");
        return 0;
    }
}
