using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using ConceptSuite.Core.Data;
using ConceptSuite.Discovery.Abstractions;
using ConceptSuite.Discovery.Methods;
using ConceptSuite.Discovery.Metrics;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Benchmarks;

/// <summary>
/// Times this suite's NMF, PCA, KMeans and a TopK SAE step against scikit-learn and PyTorch
/// (../shared/peers beside the repository, run with /usr/bin/python3; missing Debian packages are
/// installed first, or the benchmark stops naming them) on the same .npy matrices, in one run, with
/// the same thread count. Prints one line per method (seconds and error on each side) and, last,
/// "discovery sae-vs-torch=x nmf-vs-sklearn=y pca-vs-sklearn=z kmeans-vs-sklearn=w" (ratios
/// &gt; 1 = faster here). With --fmnist N it also fits a TopK SAE on N Fashion-MNIST images
/// (pixels, 784-d) and prints its R² and L0.
/// Options: --n rows (20000), --d width (256), --k components (32), --threads (2), --peers dir,
/// --sae-steps (20), --fmnist N (0: skip). Each line also gives both sides' CPU time (process
/// user + system over the timed region; the peer's from time.process_time), and a
/// "discovery-cpu ..." line before the last gives the ratios of CPU time, which a loaded machine
/// disturbs less than wall time.
/// With --rss: streams --rss-n samples (1 000 000) × --rss-d (512) float32, generated block by
/// block and never held, through streamed fits (TopK SAE, mini-batch k-means, exact PCA) and prints
/// the peak resident set (VmHWM) after each.
/// </summary>
public static class DiscoveryBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Contains("--rss")) return StreamedPeakMemory(args);
        int n = (int)Opt(args, "--n", 20000), d = (int)Opt(args, "--d", 256), k = (int)Opt(args, "--k", 32);
        int threads = (int)Opt(args, "--threads", 2), saeSteps = (int)Opt(args, "--sae-steps", 20), fmnist = (int)Opt(args, "--fmnist", 0);
        if (!Peers.Require("discovery", "python3-numpy", "python3-sklearn", "python3-torch", "libopenblas0-pthread")) return 2;
        var peers = Peers.Folder(OptS(args, "--peers", null));
        if (peers is null) return 2;
        torch.set_num_threads(threads);
        var dir = Directory.CreateTempSubdirectory("cs-discovery-bench-").FullName;
        try
        {
            // Non-negative planted low-rank data (NMF needs A >= 0): relu(Z·B) + 0.01·|noise|.
            using var g = new Generator(0);
            using var x = (randn([n, k], generator: g).matmul(randn([k, d], generator: g)).relu() + 0.01f * randn([n, d], generator: g).abs()).contiguous();
            var xPath = Path.Combine(dir, "x.npy");
            WriteNpy(xPath, x);
            var src = new TensorRowSource(x);
            Console.WriteLine($"discovery data: N={n} D={d} components={k} threads={threads}");

            var nmfRatio = Compare("nmf", k, src, x, xPath, peers, threads,
                new() { ["max_iter"] = "200" }, (dict, t) => Frobenius(dict, t), "frobenius_error");
            var pcaRatio = Compare("pca", k, src, x, xPath, peers, threads, new(), (dict, t) => Frobenius(dict, t), "frobenius_error");
            var kmRatio = Compare("kmeans", k, src, x, xPath, peers, threads,
                new() { ["max_iter"] = "200" }, (dict, t) => ((KMeans)dict).Inertia, "inertia");

            // TopK SAE step: 512 → 4096, k = 32, batch 1024 (same shapes as the PyTorch peer).
            using var xs = randn([16384, 512], generator: g).contiguous();
            var sPath = Path.Combine(dir, "sae.npy");
            WriteNpy(sPath, xs);
            using var sae = (SparseAutoencoder)DictionaryMethods.Create("topk_sae", 4096,
                new Dictionary<string, string> { ["k"] = "32", ["batch_size"] = "1024", ["normalize"] = "false", ["auxk"] = "0" });
            var ssrc = new TensorRowSource(xs);
            sae.Begin(ssrc, FitContext.Default());
            using var perm = randperm(16384, generator: g);
            for (int i = 0; i < 3; i++) using (var b = xs.index_select(0, perm.narrow(0, i * 1024, 1024))) sae.Step(b);
            var cpu0 = CpuSeconds();
            var sw = Stopwatch.StartNew();
            double loss = 0;
            for (int i = 0; i < saeSteps; i++)
                using (var b = xs.index_select(0, perm.narrow(0, (i % 16) * 1024, 1024))) loss = sae.Step(b);
            double ours = sw.Elapsed.TotalSeconds / saeSteps, oursCpu = (CpuSeconds() - cpu0) / saeSteps;
            var peer = RunPeer(Path.Combine(peers, "torch_sae.py"), $"--input {sPath} --latents 4096 --k 32 --batch 1024 --steps {saeSteps} --threads {threads}");
            double theirs = peer.GetProperty("seconds_per_step").GetDouble(), theirsCpu = peer.GetProperty("cpu_seconds").GetDouble() / saeSteps;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"discovery topk_sae step 512->4096 k=32 batch=1024: suite {ours * 1000:F1} ms (cpu {oursCpu * 1000:F1} ms, loss {loss:G4}) torch {theirs * 1000:F1} ms (cpu {theirsCpu * 1000:F1} ms, mse {peer.GetProperty("final_mse").GetDouble():G4})"));
            var saeRatio = (theirs / ours, theirsCpu / oursCpu);

            // The sparse step against autograd on the dense graph, same batches, same run: loss and
            // gradients only (no optimiser step), for both variants that have a sparse path.
            foreach (var method in new[] { "topk_sae", "batchtopk_sae" })
            {
                double Gradients(bool sparse)
                {
                    using var m = (SparseAutoencoder)DictionaryMethods.Create(method, 4096,
                        new Dictionary<string, string> { ["k"] = "32", ["batch_size"] = "1024", ["normalize"] = "false", ["auxk"] = "0" });
                    m.Begin(ssrc, FitContext.Default());
                    var w = Stopwatch.StartNew();
                    for (int i = 0; i < saeSteps + 3; i++)
                    {
                        if (i == 3) w.Restart();
                        using var b = xs.index_select(0, perm.narrow(0, (i % 16) * 1024, 1024));
                        foreach (var t in m.LossAndGradients(b, sparse).Gradients.Values) t.Dispose();
                    }
                    return w.Elapsed.TotalSeconds / saeSteps;
                }
                double dense = Gradients(false), sparseSeconds = Gradients(true);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"discovery {method} loss+gradients 512->4096 k=32 batch=1024: sparse {sparseSeconds * 1000:F1} ms, autograd {dense * 1000:F1} ms ({dense / sparseSeconds:F2}x)"));
            }

            if (fmnist > 0) FashionMnistSae(fmnist);

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"discovery-cpu sae-vs-torch={saeRatio.Item2:F2} nmf-vs-sklearn={nmfRatio.Cpu:F2} pca-vs-sklearn={pcaRatio.Cpu:F2} kmeans-vs-sklearn={kmRatio.Cpu:F2}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"discovery sae-vs-torch={saeRatio.Item1:F2} nmf-vs-sklearn={nmfRatio.Wall:F2} pca-vs-sklearn={pcaRatio.Wall:F2} kmeans-vs-sklearn={kmRatio.Wall:F2}"));
            return 0;
        }
        finally { Directory.Delete(dir, true); }
    }

    static (double Wall, double Cpu) Compare(string method, int k, IRowSource src, Tensor x, string xPath, string peers, int threads,
        Dictionary<string, string> options, Func<IConceptDictionary, Tensor, double> error, string peerKey)
    {
        using var dict = DictionaryMethods.Create(method, k, options);
        var cpu0 = CpuSeconds();
        var sw = Stopwatch.StartNew();
        // (seconds, error) at each error checkpoint of iterative fits: the time to reach the peer's final error.
        var trace = new List<(double Seconds, double Error)>();
        dict.Fit(src, new FitContext
        {
            Metrics = (_, m) => { if (m.TryGetValue("frobenius_error", out var e)) trace.Add((sw.Elapsed.TotalSeconds, e)); },
        });
        double ours = sw.Elapsed.TotalSeconds, oursCpu = CpuSeconds() - cpu0;
        double err = error(dict, x);
        var peer = RunPeer(Path.Combine(peers, "sklearn_fit.py"), $"--method {method} --input {xPath} --components {k} --iters 200 --seed 0", threads);
        double theirs = peer.GetProperty("seconds").GetDouble(), theirsCpu = peer.GetProperty("cpu_seconds").GetDouble();
        double perr = peer.GetProperty(peerKey).GetDouble();
        string iters = dict switch
        {
            KMeans km => $" passes {km.InertiaHistory.Count}/{peer.GetProperty("n_iter").GetInt32()}",
            Nmf nmf => $" iterations {nmf.Iterations}/{peer.GetProperty("n_iter").GetInt32()}",
            _ => "",
        };
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"discovery {method}: suite {ours:F3} s (cpu {oursCpu:F3} s, {peerKey} {err:G6}) sklearn {theirs:F3} s (cpu {theirsCpu:F3} s, {peerKey} {perr:G6}) error ratio {err / perr:F4}{iters}"));
        if (TimeToError(trace, perr) is { } reach)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"discovery {method} at equal error: suite reaches sklearn's final {peerKey} {perr:G6} after {reach:F3} s (interpolated between checkpoints) against sklearn's {theirs:F3} s: {theirs / reach:F2}x"));
        return (theirs / ours, theirsCpu / oursCpu);
    }

    /// <summary>
    /// Seconds until a fit's error first reached <paramref name="target"/>, linear between the two
    /// checkpoints around the crossing (from the first checkpoint when it is already below); null when never.
    /// </summary>
    static double? TimeToError(List<(double Seconds, double Error)> trace, double target)
    {
        for (int i = 0; i < trace.Count; i++)
        {
            if (trace[i].Error > target) continue;
            if (i == 0) return trace[0].Seconds;
            var (t0, e0) = trace[i - 1];
            var (t1, e1) = trace[i];
            return t0 + (e0 - target) / (e0 - e1) * (t1 - t0);
        }
        return null;
    }

    static double CpuSeconds()
    {
        using var p = Process.GetCurrentProcess();
        return p.TotalProcessorTime.TotalSeconds;
    }

    /// <summary>Peak resident set of this process (VmHWM), in MiB.</summary>
    static double PeakRssMiB()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
        using var p = Process.GetCurrentProcess();
        return p.PeakWorkingSet64 / (1024.0 * 1024.0);
    }

    /// <summary>
    /// Rows made block by block from a seed (block b: relu(randn · s) from seed·1 000 003 + b, with
    /// per-dimension scales s falling from 1 to 0.05 so the spectrum has structure); nothing is held
    /// between blocks.
    /// </summary>
    sealed class GeneratedRowSource(long samples, int dim, long seed) : IRowSource
    {
        const int BlockRows = 16384;
        readonly Tensor _scale = torch.linspace(1, 0.05, dim);

        public long Samples => samples;
        public int Dim => dim;

        public IEnumerable<Tensor> Blocks(int samplesPerBlock, long? shuffleSeed = null)
        {
            long blocks = (samples + BlockRows - 1) / BlockRows;
            var order = Enumerable.Range(0, checked((int)blocks)).ToArray();
            if (shuffleSeed is { } s) new Random(unchecked((int)s)).Shuffle(order);
            foreach (var b in order)
            {
                long start = (long)b * BlockRows, n = Math.Min(BlockRows, samples - start);
                Tensor block;
                using (var scope = NewDisposeScope())
                {
                    using var g = new Generator((ulong)(seed * 1_000_003L + b));
                    block = randn([n, dim], generator: g).mul_(_scale).relu_().MoveToOuterDisposeScope();
                }
                if (samplesPerBlock >= n) { yield return block; continue; }
                using (block)
                    for (long r = 0; r < n; r += samplesPerBlock)
                    {
                        // The view shares the block's storage: disposed at once, or the storage outlives the block.
                        using var view = block.narrow(0, r, Math.Min(samplesPerBlock, n - r));
                        yield return view.clone();
                    }
            }
        }
    }

    static int StreamedPeakMemory(string[] args)
    {
        long n = (long)Opt(args, "--rss-n", 1_000_000);
        int d = (int)Opt(args, "--rss-d", 512), threads = (int)Opt(args, "--threads", 2);
        torch.set_num_threads(threads);
        var src = new GeneratedRowSource(n, d, 7);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"discovery rss: N={n} D={d} float32 = {n * d * 4 / (1024.0 * 1024 * 1024):F2} GiB streamed, never held; start peak RSS {PeakRssMiB():F0} MiB"));
        var fits = new (string Method, int Concepts, Dictionary<string, string> Options)[]
        {
            ("pca", 64, new() { ["solver"] = "exact" }),
            ("kmeans", 64, new() { ["solver"] = "minibatch", ["batch_size"] = "4096", ["max_iter"] = "1" }),
            ("topk_sae", 256, new() { ["k"] = "32", ["batch_size"] = "4096", ["epochs"] = "1" }),
        };
        foreach (var (method, c, o) in fits)
        {
            using var dict = DictionaryMethods.Create(method, c, o);
            var sw = Stopwatch.StartNew();
            dict.Fit(src, FitContext.Default());
            var m = DictionaryMetrics.Evaluate(dict, src, 65536);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"discovery rss {method} C={c}: fit {sw.Elapsed.TotalSeconds:F1} s, R2 (first 65536) {m.R2:F4}, peak RSS {PeakRssMiB():F0} MiB"));
        }
        double peak = PeakRssMiB();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"discovery rss peak={peak:F0}MiB target<1536MiB {(peak < 1536 ? "ok" : "OVER")}"));
        return peak < 1536 ? 0 : 1;
    }

    static void FashionMnistSae(int count)
    {
        var ds = FashionMnist.Load("train", count);
        using var x = ds.Images.to_type(ScalarType.Float32).div(255f).reshape(ds.Images.shape[0], -1);
        var src = new TensorRowSource(x);
        foreach (var kk in new[] { 16, 32 })
        {
            using var sae = DictionaryMethods.Create("topk_sae", 1024,
                new Dictionary<string, string> { ["k"] = kk.ToString(CultureInfo.InvariantCulture), ["epochs"] = "10", ["batch_size"] = "512", ["lr"] = "0.001" });
            var sw = Stopwatch.StartNew();
            sae.Fit(src, FitContext.Default());
            var m = DictionaryMetrics.Evaluate(sae, src, long.MaxValue);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"discovery fashion-mnist pixels N={count} topk_sae 784->1024 k={kk}: R2={m.R2:F4} L0={m.L0:F1} dead={m.DeadFraction:F3} fit {sw.Elapsed.TotalSeconds:F1} s"));
        }
    }

    static double Frobenius(IConceptDictionary dict, Tensor x)
    {
        using var z = dict.Encode(x);
        using var xh = dict.Decode(z);
        return Math.Sqrt((x.to_type(ScalarType.Float64) - xh.to_type(ScalarType.Float64)).square().sum().item<double>());
    }

    /// <summary>
    /// Runs a peer script under a wrapper that records time.process_time at each time.perf_counter
    /// call: the last JSON line gains "cpu_seconds", the CPU time between the script's last two
    /// perf_counter calls (its timed region).
    /// </summary>
    static JsonElement RunPeer(string script, string arguments, int threads = 2)
    {
        const string wrapper = """
            import contextlib, io, json, runpy, sys, time
            cpu, wall = [], time.perf_counter
            def stamp():
                cpu.append(time.process_time())
                return wall()
            time.perf_counter = stamp
            sys.argv = sys.argv[1:]
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                runpy.run_path(sys.argv[0], run_name="__main__")
            result = json.loads(out.getvalue().strip().splitlines()[-1])
            result["cpu_seconds"] = cpu[-1] - cpu[-2]
            print(json.dumps(result))
            """;
        return Peers.RunJson(["-c", wrapper, script, .. arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries)], threads);
    }

    /// <summary>NumPy .npy v1.0: magic, header length, a dict padded with spaces to a 128-byte boundary, raw little-endian float32.</summary>
    static void WriteNpy(string path, Tensor t)
    {
        var c = t.to_type(ScalarType.Float32).contiguous();
        var dict = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({string.Join(", ", c.shape)}{(c.shape.Length == 1 ? "," : "")}), }}";
        int total = 10 + dict.Length + 1;
        int pad = (128 - total % 128) % 128;
        var header = dict + new string(' ', pad) + "\n";
        using var f = File.Create(path);
        f.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0]);
        f.Write(BitConverter.GetBytes((ushort)header.Length));
        f.Write(Encoding.ASCII.GetBytes(header));
        f.Write(c.bytes);
    }

    static double Opt(string[] args, string name, double def)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? double.Parse(args[i + 1], CultureInfo.InvariantCulture) : def;
    }

    static string? OptS(string[] args, string name, string? def)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : def;
    }
}
