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
/// --sae-steps (20), --fmnist N (0: skip), --sae-only (only the SAE step: its time, profile, roofline
/// ratio and the PyTorch peer; the other methods print NaN). The SAE step also prints where its time
/// goes (phases, temporaries) and "sae-roofline=R": the step's FLOPs per second over the same-run
/// GFLOP/s of the encoder's matmul alone. Each line also gives both sides' CPU time (process
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

            bool saeOnly = args.Contains("--sae-only");
            (double Wall, double Cpu) nmfRatio = (double.NaN, double.NaN), pcaRatio = nmfRatio, kmRatio = nmfRatio;
            if (!saeOnly)
            {
                nmfRatio = Compare("nmf", k, src, x, xPath, peers, threads,
                    new() { ["max_iter"] = "200" }, (dict, t) => Frobenius(dict, t), "frobenius_error");
                pcaRatio = Compare("pca", k, src, x, xPath, peers, threads, new(), (dict, t) => Frobenius(dict, t), "frobenius_error");
                kmRatio = Compare("kmeans", k, src, x, xPath, peers, threads,
                    new() { ["max_iter"] = "200" }, (dict, t) => ((KMeans)dict).Inertia, "inertia");
            }

            // TopK SAE step: 512 → 4096, k = 32, batch 1024 (same shapes as the PyTorch peer).
            using var xs = randn([16384, 512], generator: g).contiguous();
            var sPath = Path.Combine(dir, "sae.npy");
            WriteNpy(sPath, xs);
            var ssrc = new TensorRowSource(xs);
            using var perm = randperm(16384, generator: g);
            var saeRatio = SaeStep(xs, ssrc, perm, saeSteps, threads, sPath, peers);

            // The sparse step against autograd on the dense graph, same batches, same run: loss and
            // gradients only (no optimiser step), for both variants that have a sparse path.
            foreach (var method in saeOnly ? [] : new[] { "topk_sae", "batchtopk_sae" })
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
                $"discovery-cpu sae-vs-torch={saeRatio.Cpu:F2} nmf-vs-sklearn={nmfRatio.Cpu:F2} pca-vs-sklearn={pcaRatio.Cpu:F2} kmeans-vs-sklearn={kmRatio.Cpu:F2}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"discovery sae-vs-torch={saeRatio.Wall:F2} sae-roofline={saeRatio.Roofline:F2} nmf-vs-sklearn={nmfRatio.Wall:F2} pca-vs-sklearn={pcaRatio.Wall:F2} kmeans-vs-sklearn={kmRatio.Wall:F2}"));
            return 0;
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>
    /// The TopK SAE training step (512 → 4096, k = 32, batch 1024): its wall and CPU time per step,
    /// where the time goes (a <see cref="StepProfile"/> over the same steps), and its roofline ratio
    /// R = (the step's FLOPs ÷ step time) ÷ (GFLOP/s of the encoder's B×D by D×F product alone), the
    /// product timed in the same process right after each step (the same bias-add GEMM call the step
    /// makes), so both see the same machine load. The step's FLOPs count what it computes: the encoder
    /// GEMM 2·B·D·F, the four sparse products over the k selected atoms per row (decode, the dots of
    /// the decoder's input gradient, the decoder and encoder weight gradients: 8·B·k·D) and the
    /// product W_enc·∂b_enc of the bias gradient (2·D·F); element-wise work (TopK, Adam, the atom
    /// projection and renormalisation) is counted as none. Then the PyTorch peer on the same data.
    /// </summary>
    static (double Wall, double Cpu, double Roofline) SaeStep(Tensor xs, IRowSource ssrc, Tensor perm, int saeSteps, int threads, string sPath, string peers)
    {
        const int B = 1024, D = 512, F = 4096, K = 32;
        using var sae = (SparseAutoencoder)DictionaryMethods.Create("topk_sae", F,
            new Dictionary<string, string> { ["k"] = $"{K}", ["batch_size"] = $"{B}", ["normalize"] = "false", ["auxk"] = "0" });
        sae.Begin(ssrc, FitContext.Default());
        for (int i = 0; i < 3; i++) using (var b = xs.index_select(0, perm.narrow(0, i * B, B))) sae.Step(b);
        using var gx = randn([B, D]);
        using var gw = randn([D, F]);
        using var gb = randn([F]);
        for (int i = 0; i < 3; i++) addmm(gb, gx, gw, beta: 1, alpha: 1).Dispose();
        var profile = new StepProfile();
        sae.Profile = profile;
        double loss = 0, stepSeconds = 0, stepCpu = 0, gemmSeconds = 0;
        for (int i = 0; i < saeSteps; i++)
        {
            using var b = xs.index_select(0, perm.narrow(0, (i % 16) * B, B));
            var cpu0 = CpuSeconds();
            long t0 = Stopwatch.GetTimestamp();
            loss = sae.Step(b);
            stepSeconds += Stopwatch.GetElapsedTime(t0).TotalSeconds;
            stepCpu += CpuSeconds() - cpu0;
            long t1 = Stopwatch.GetTimestamp();
            addmm(gb, gx, gw, beta: 1, alpha: 1).Dispose();
            gemmSeconds += Stopwatch.GetElapsedTime(t1).TotalSeconds;
        }
        sae.Profile = null;
        double ours = stepSeconds / saeSteps, oursCpu = stepCpu / saeSteps, gemm = gemmSeconds / saeSteps;
        double gemmFlops = 2.0 * B * D * F, stepFlops = gemmFlops + 8.0 * B * K * D + 2.0 * D * F;
        double roofline = stepFlops / ours / (gemmFlops / gemm);
        var peer = RunPeer(Path.Combine(peers, "torch_sae.py"), $"--input {sPath} --latents {F} --k {K} --batch {B} --steps {saeSteps} --threads {threads}");
        double theirs = peer.GetProperty("seconds_per_step").GetDouble(), theirsCpu = peer.GetProperty("cpu_seconds").GetDouble() / saeSteps;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"discovery topk_sae step 512->4096 k=32 batch=1024: suite {ours * 1000:F1} ms (cpu {oursCpu * 1000:F1} ms, loss {loss:G4}) torch {theirs * 1000:F1} ms (cpu {theirsCpu * 1000:F1} ms, mse {peer.GetProperty("final_mse").GetDouble():G4})"));
        double total = profile.Phases.Sum(p => p.Seconds);
        Console.WriteLine("discovery topk_sae step profile (ms per step, share): " + string.Join("; ", profile.Phases.Select(p =>
            string.Create(CultureInfo.InvariantCulture, $"{p.Phase} {p.Seconds / profile.Steps * 1000:F2} ({p.Seconds / total:P0})"))) +
            string.Create(CultureInfo.InvariantCulture,
                $"; temporaries {(double)profile.Temporaries / profile.Steps:F0} tensors, {profile.TemporaryBytes / (double)profile.Steps / (1 << 20):F1} MiB per step"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"discovery topk_sae roofline: step {stepFlops / 1e9:F3} GFLOP in {ours * 1000:F1} ms = {stepFlops / ours / 1e9:F1} GFLOP/s; same-run matmul {B}x{D} by {D}x{F} {gemm * 1000:F1} ms = {gemmFlops / gemm / 1e9:F1} GFLOP/s; sae-roofline={roofline:F2}"));
        return (theirs / ours, theirsCpu / oursCpu, roofline);
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
