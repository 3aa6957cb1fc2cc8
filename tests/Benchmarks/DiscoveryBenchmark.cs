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
/// (/work/shared/peers, run with /usr/bin/python3) on the same .npy matrices, in one run, with
/// the same thread count. Prints one line per method (seconds and error on each side) and, last,
/// "discovery sae-vs-torch=x nmf-vs-sklearn=y pca-vs-sklearn=z kmeans-vs-sklearn=w" (ratios
/// &gt; 1 = faster here). With --fmnist N it also fits a TopK SAE on N Fashion-MNIST images
/// (pixels, 784-d) and prints its R² and L0.
/// Options: --n rows (20000), --d width (256), --k components (32), --threads (2), --peers dir,
/// --sae-steps (20), --fmnist N (0: skip).
/// </summary>
public static class DiscoveryBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        int n = (int)Opt(args, "--n", 20000), d = (int)Opt(args, "--d", 256), k = (int)Opt(args, "--k", 32);
        int threads = (int)Opt(args, "--threads", 2), saeSteps = (int)Opt(args, "--sae-steps", 20), fmnist = (int)Opt(args, "--fmnist", 0);
        string peers = OptS(args, "--peers", "/work/shared/peers");
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

            double nmfRatio = Compare("nmf", k, src, x, xPath, peers, threads,
                new() { ["max_iter"] = "200" }, (dict, t) => Frobenius(dict, t), "frobenius_error");
            double pcaRatio = Compare("pca", k, src, x, xPath, peers, threads, new(), (dict, t) => Frobenius(dict, t), "frobenius_error");
            double kmRatio = Compare("kmeans", k, src, x, xPath, peers, threads,
                new() { ["max_iter"] = "200" }, (dict, t) => ((KMeans)dict).Inertia, "inertia");

            // TopK SAE step: 512 → 4096, k = 32, batch 1024 (same shapes as the PyTorch peer).
            using var xs = randn([16384, 512], generator: g).contiguous();
            var sPath = Path.Combine(dir, "sae.npy");
            WriteNpy(sPath, xs);
            using var sae = (SparseAutoencoder)DictionaryRegistry.Create("topk_sae", 4096,
                new Dictionary<string, string> { ["k"] = "32", ["batch_size"] = "1024", ["normalize"] = "false", ["auxk"] = "0" }, 0);
            var ssrc = new TensorRowSource(xs);
            sae.Begin(ssrc, FitContext.Default());
            using var perm = randperm(16384, generator: g);
            for (int i = 0; i < 3; i++) using (var b = xs.index_select(0, perm.narrow(0, i * 1024, 1024))) sae.Step(b);
            var sw = Stopwatch.StartNew();
            double loss = 0;
            for (int i = 0; i < saeSteps; i++)
                using (var b = xs.index_select(0, perm.narrow(0, (i % 16) * 1024, 1024))) loss = sae.Step(b);
            double ours = sw.Elapsed.TotalSeconds / saeSteps;
            var peer = RunPeer(Path.Combine(peers, "torch_sae.py"), $"--input {sPath} --latents 4096 --k 32 --batch 1024 --steps {saeSteps} --threads {threads}");
            double theirs = peer.GetProperty("seconds_per_step").GetDouble();
            Console.WriteLine($"discovery topk_sae step 512->4096 k=32 batch=1024: suite {ours * 1000:F1} ms (loss {loss:G4}) torch {theirs * 1000:F1} ms (mse {peer.GetProperty("final_mse").GetDouble():G4})");
            double saeRatio = theirs / ours;

            if (fmnist > 0) FashionMnistSae(fmnist);

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"discovery sae-vs-torch={saeRatio:F2} nmf-vs-sklearn={nmfRatio:F2} pca-vs-sklearn={pcaRatio:F2} kmeans-vs-sklearn={kmRatio:F2}"));
            return 0;
        }
        finally { Directory.Delete(dir, true); }
    }

    static double Compare(string method, int k, IRowSource src, Tensor x, string xPath, string peers, int threads,
        Dictionary<string, string> options, Func<IConceptDictionary, Tensor, double> error, string peerKey)
    {
        using var dict = DictionaryRegistry.Create(method, k, options, 0);
        var sw = Stopwatch.StartNew();
        dict.Fit(src, FitContext.Default());
        double ours = sw.Elapsed.TotalSeconds;
        double err = error(dict, x);
        var peer = RunPeer(Path.Combine(peers, "sklearn_fit.py"), $"--method {method} --input {xPath} --components {k} --iters 200 --seed 0", threads);
        double theirs = peer.GetProperty("seconds").GetDouble();
        double perr = peer.GetProperty(peerKey).GetDouble();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"discovery {method}: suite {ours:F3} s ({peerKey} {err:G6}) sklearn {theirs:F3} s ({peerKey} {perr:G6}) error ratio {err / perr:F4}"));
        return theirs / ours;
    }

    static void FashionMnistSae(int count)
    {
        var ds = FashionMnist.Load("train", count);
        using var x = ds.Images.to_type(ScalarType.Float32).div(255f).reshape(ds.Images.shape[0], -1);
        var src = new TensorRowSource(x);
        foreach (var kk in new[] { 16, 32 })
        {
            using var sae = DictionaryRegistry.Create("topk_sae", 1024,
                new Dictionary<string, string> { ["k"] = kk.ToString(CultureInfo.InvariantCulture), ["epochs"] = "10", ["batch_size"] = "512", ["lr"] = "0.001" }, 0);
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

    static JsonElement RunPeer(string script, string arguments, int threads = 2)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3", $"{script} {arguments}")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var v in new[] { "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS" }) psi.Environment[v] = threads.ToString(CultureInfo.InvariantCulture);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEnd();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{script} failed ({p.ExitCode}): {stderr}");
        var last = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last();
        return JsonDocument.Parse(last).RootElement.Clone();
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

    static string OptS(string[] args, string name, string def)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : def;
    }
}
