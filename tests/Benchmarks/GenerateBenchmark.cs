using System.Diagnostics;
using System.Globalization;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Generate.Data;
using ConceptSuite.Generate.Editing;
using ConceptSuite.Generate.Evaluation;
using ConceptSuite.Generate.Images;
using ConceptSuite.Generate.Model;
using ConceptSuite.Generate.Text;
using ConceptSuite.Generate.Training;
using TorchSharp;

namespace ConceptSuite.Benchmarks;

/// <summary>
/// Trains a concept generator on concept shapes (or Fashion-MNIST), judges it with the concept
/// classifier, erases a concept (RealEra) and reports efficacy and preserve drift, and writes PNG
/// grids to --out (real.png, samples.png, erased-WORD.png; rows listed in samples.txt).
/// Options: --preset cpu|tiny|gpu (cpu) --steps N (3000) --batch N (64) --samples N (4000)
/// --source concept-shapes|fashion-mnist --colour-only --fix factor=value,... (e.g. size=large,texture=solid)
/// --erase WORD|none (red; sneaker for fashion-mnist) --erase-sweep (several erase settings on one generator)
/// --eval-samples N (32) --sample-steps N (25) --guidance W (3) --judge-epochs N (4) --load FILE (skip training: a saved model.dat)
/// --device cpu|cuda --out DIR (bench-out/generate) --seed N (0) --image-size N --base N --lr X --log-every N --threads N (1: oversubscribed
/// machines lose most of their time in OpenMP barriers at 2).
/// </summary>
public static class GenerateBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        string Arg(string name, string def) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : def; }
        var preset = Arg("--preset", "cpu");
        int steps = int.Parse(Arg("--steps", "3000"), CultureInfo.InvariantCulture);
        int batch = int.Parse(Arg("--batch", "64"), CultureInfo.InvariantCulture);
        int samples = int.Parse(Arg("--samples", "4000"), CultureInfo.InvariantCulture);
        int evalSamples = int.Parse(Arg("--eval-samples", "32"), CultureInfo.InvariantCulture);
        int sampleSteps = int.Parse(Arg("--sample-steps", "25"), CultureInfo.InvariantCulture);
        double guidance = double.Parse(Arg("--guidance", "3"), CultureInfo.InvariantCulture);
        double lr = double.Parse(Arg("--lr", "0.002"), CultureInfo.InvariantCulture);
        int seed = int.Parse(Arg("--seed", "0"), CultureInfo.InvariantCulture);
        var erase = Arg("--erase", Arg("--source", "") == "fashion-mnist" ? "sneaker" : "red");
        var outDir = Arg("--out", Path.Combine("bench-out", "generate"));
        var device = torch.device(Arg("--device", torch.cuda.is_available() ? "cuda" : "cpu"));
        bool colourOnly = args.Contains("--colour-only");
        torch.set_num_threads(int.Parse(Arg("--threads", "1"), CultureInfo.InvariantCulture));
        Directory.CreateDirectory(outDir);

        var config = GeneratorConfig.Preset(preset);
        if (Arg("--image-size", "") is { Length: > 0 } size) config = config with { ImageSize = int.Parse(size, CultureInfo.InvariantCulture) };
        if (Arg("--base", "") is { Length: > 0 } width) config = config with { BaseChannels = int.Parse(width, CultureInfo.InvariantCulture) };
        var dataOptions = colourOnly ? ConceptImages.ColourOnly(config.ImageSize) : new Core.Data.ConceptShapesOptions { Size = config.ImageSize };
        if (Arg("--fix", "") is { Length: > 0 } fix)
            dataOptions = dataOptions with
            {
                Subsets = fix.Split(',').Select(kv => kv.Split('=')).ToDictionary(kv => kv[0], kv => (IReadOnlyList<string>)kv[1].Split('+')),
            };
        var source = Arg("--source", "concept-shapes");
        bool fashion = source == "fashion-mnist";
        Console.WriteLine($"generate: {source}, preset {preset} ({config.ImageSize}x{config.ImageSize}, {config.BaseChannels} ch), {steps} steps x {batch}, {samples} images, device {device}, threads {torch.get_num_threads()}, load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");

        using var data = fashion ? ConceptImages.FromFashionMnist("train", samples, config.ImageSize) : ConceptImages.FromConceptShapes(samples, seed, dataOptions);
        using var heldOut = fashion ? ConceptImages.FromFashionMnist("test", 1000, config.ImageSize) : ConceptImages.FromConceptShapes(1000, seed + 1, dataOptions);
        var vocab = new ConceptVocabulary(data.ConceptNames);
        await File.WriteAllBytesAsync(Path.Combine(outDir, "real.png"), PngImages.Grid(data.Normalized()[..32], 8, 4));

        var sw = Stopwatch.StartNew();
        using var clf = TorchRandom.Initialize(new ConceptClassifier(vocab.Groups, config.ImageSize), seed + 1);
        clf.to(device);
        var acc = clf.Fit(data, heldOut, epochs: int.Parse(Arg("--judge-epochs", "4"), CultureInfo.InvariantCulture), seed: seed);
        Console.WriteLine($"classifier: held-out accuracy {string.Join(", ", acc.Select(kv => $"{kv.Key} {kv.Value:F3}"))} in {sw.Elapsed.TotalSeconds:F1} s");

        sw.Restart();
        using var gen = new ConceptGenerator(config, vocab, device);
        TorchRandom.Initialize(gen.Model, seed);
        long parameters = gen.Model.parameters().Sum(p => p.numel());
        if (args.Contains("--nan-check"))
        {
            using var x = data.Normalized()[..4].to(device);
            var tt = torch.tensor(new long[] { 0, 10, 500, 999 }, device: device);
            var ctx = gen.Model.Encode(gen.Tokenize(["a red square", "a blue square", "", "green"]));
            var (eps, feats) = gen.Model.ForwardWithFeatures(gen.Schedule.AddNoise(x, torch.randn_like(x), tt), tt, Conditioning.Single(ctx));
            Console.WriteLine($"nan-check: eps nan {eps.isnan().any().item<bool>()}, features nan {feats.isnan().any().item<bool>()}, emb nan {ctx.Embeddings.isnan().any().item<bool>()}, noised nan {gen.Schedule.AddNoise(x, torch.randn_like(x), tt).isnan().any().item<bool>()}");
            foreach (var (name, p) in gen.Model.named_parameters()) if (p.isnan().any().item<bool>()) Console.WriteLine($"  nan parameter {name}");
            GeneratorTrainer.Train(gen, data, new TrainingOptions { Steps = 1, BatchSize = batch, LearningRate = lr, Seed = seed }, 0, (s, l) => Console.WriteLine($"  one step loss {l}"));
            foreach (var (name, p) in gen.Model.named_parameters()) if (p.isnan().any().item<bool>()) Console.WriteLine($"  nan parameter after a step {name}");
            return 0;
        }
        double trainSeconds = 0;
        if (Arg("--load", "") is { Length: > 0 } saved)
        {
            gen.Model.load(saved);
            Console.WriteLine($"loaded {saved}: {parameters} parameters");
        }
        else
        {
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            var loss = GeneratorTrainer.Train(gen, data, new TrainingOptions { Steps = steps, BatchSize = batch, LearningRate = lr, Seed = seed }, 0, (s, l) =>
            {
                if (s % int.Parse(Arg("--log-every", "250"), CultureInfo.InvariantCulture) == 0) Console.WriteLine($"  step {s}: loss {l:F4} ({sw.Elapsed.TotalSeconds:F0} s)");
            });
            trainSeconds = sw.Elapsed.TotalSeconds;
            var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
            Console.WriteLine($"train: {parameters} parameters, final loss {loss:F4}, {trainSeconds:F1} s wall, {cpu:F1} s CPU ({trainSeconds / steps * 1000:F0} ms/step), load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
            gen.Model.save(Path.Combine(outDir, "model.dat"));
        }

        sw.Restart();
        var mainGroup = fashion ? "garment" : "colour";
        var prompts = vocab.Groups[mainGroup].SelectMany(c => ConceptRates.PromptsFor(vocab, c)).ToList();
        var report = ConceptRates.Evaluate(gen, clf, prompts, evalSamples, sampleSteps, guidance, 1000);
        Console.WriteLine($"evaluate ({prompts.Count} prompts x {evalSamples}, {sampleSteps} DDIM steps, w={guidance}) in {sw.Elapsed.TotalSeconds:F1} s:");
        foreach (var c in report.Concepts) Console.WriteLine($"  {c.Group,-10} {c.Concept,-10} rate {c.Rate:F3} (chance {c.Chance:F3}, n={c.Samples})");

        // Sample grid: one row per colour prompt, 8 seeds.
        var gridPrompts = prompts.Take(12).SelectMany(p => Enumerable.Repeat(p, 8)).ToList();
        using (var imgs = gen.Generate(gridPrompts, Enumerable.Range(0, gridPrompts.Count).Select(i => (long)(i % 8)).ToList(), sampleSteps, guidance))
            await File.WriteAllBytesAsync(Path.Combine(outDir, "samples.png"), PngImages.Grid(imgs, 8, 4));
        await File.WriteAllTextAsync(Path.Combine(outDir, "samples.txt"), string.Join('\n', prompts.Take(12)) + "\n");

        if (args.Contains("--erase-sweep")) EraseSweep(gen, clf, erase, vocab, evalSamples, sampleSteps, guidance, seed);
        var mean = report.Concepts.Where(c => c.Group == mainGroup).Average(c => c.Rate);
        var shape = report.Concepts.Where(c => c.Group == "shape").Select(c => c.Rate).DefaultIfEmpty(double.NaN).Average();
        if (Arg("--erase", "red") == "none" || (fashion && Arg("--erase", "") == ""))
        {
            Console.WriteLine($"generate: {mainGroup} rate {mean:F3}, shape rate {shape:F3}, train {trainSeconds:F0} s; grids in {Path.GetFullPath(outDir)}");
            return 0;
        }
        sw.Restart();
        var spec = new EraseSpec { Concepts = [erase], Seed = seed };
        var (edited, plan) = Erased(gen, "realera", spec);
        double editMs = sw.Elapsed.TotalMilliseconds;
        sw.Restart();
        var er = EraseReport.Measure(gen, edited, clf, plan, spec.Concepts, evalSamples, sampleSteps, guidance, 2000);
        Console.WriteLine($"erase '{erase}' (realera, {plan.NeighbourKeys} neighbour + {plan.BeyondKeys} beyond keys): edit {editMs:F0} ms, report {sw.Elapsed.TotalSeconds:F1} s");
        foreach (var c in er.Erased) Console.WriteLine($"  erased    {c.Concept,-8} rate {c.RateBefore:F3} -> {c.RateAfter:F3} (chance {c.Chance:F3}, neutral-prompt rate {c.NeutralRate:F3}), pixel drift {c.PixelDrift:F3}");
        foreach (var c in er.Preserved) Console.WriteLine($"  preserved {c.Concept,-8} rate {c.RateBefore:F3} -> {c.RateAfter:F3}, pixel drift {c.PixelDrift:F3}");
        var erPrompts = prompts.Take(12).SelectMany(p => Enumerable.Repeat(p, 8)).ToList();
        using (var imgs = edited.Generate(erPrompts, Enumerable.Range(0, erPrompts.Count).Select(i => (long)(i % 8)).ToList(), sampleSteps, guidance))
            await File.WriteAllBytesAsync(Path.Combine(outDir, $"erased-{erase}.png"), PngImages.Grid(imgs, 8, 4));
        edited.Dispose();
        Console.WriteLine($"grids written to {Path.GetFullPath(outDir)} (real.png, samples.png, erased-{erase}.png; rows as in samples.txt)");
        Console.WriteLine($"generate: {mainGroup} rate {mean:F3}, shape rate {shape:F3}, erased '{erase}' {er.MeanErasedRateAfter:F3}, preserve drift mean {er.MeanPreserveDrift:F3} max {er.MaxPreserveDrift:F3}, train {trainSeconds:F0} s");
        return 0;
    }

    /// <summary>A copy of the generator with the erase applied.</summary>
    static (ConceptGenerator Edited, EditPlan Plan) Erased(ConceptGenerator gen, string method, EraseSpec spec, Dictionary<string, string>? options = null)
    {
        var edited = new ConceptGenerator(gen.Config, gen.Vocabulary, gen.Device);
        edited.Model.load_state_dict(gen.Model.state_dict());
        var eraser = ConceptErasers.Family.Create(method, options, "eraser");
        var plan = eraser.Plan(edited, spec);
        ConceptErasers.Apply(edited, plan, eraser.ClosedForm);
        return (edited, plan);
    }

    /// <summary>Erases one concept under several settings from the same generator and prints efficacy and drift for each.</summary>
    static void EraseSweep(ConceptGenerator gen, ConceptClassifier clf, string erase, ConceptVocabulary vocab, int n, int steps, double guidance, int seed)
    {
        var other = vocab.Groups[ConceptVocabulary.GroupOf(erase)].First(c => c != erase);
        var only = new EraseSpec { Concepts = [erase], Seed = seed };
        (string Name, string Method, EraseSpec Spec, Dictionary<string, string>? Options)[] settings =
        [
            ("realera (defaults)", "realera", only, null),
            ("realera, neighbour/beyond weights 16/16", "realera", only, new() { ["neighbour_weight"] = "16", ["beyond_weight"] = "16" }),
            ("realera, radius 0.1", "realera", only, new() { ["neighbour_radius"] = "0.1" }),
            ("uce, lambda 0.1", "uce", only, null),
            ("uce, lambda 0.01", "uce", only, new() { ["lambda"] = "0.01" }),
            ($"realera, target {other}", "realera", new EraseSpec { Concepts = [erase], Targets = [other], Seed = seed }, null),
        ];
        foreach (var (name, method, spec, options) in settings)
        {
            var sw = Stopwatch.StartNew();
            var (edited, plan) = Erased(gen, method, spec, options);
            using var _ = edited;
            var er = EraseReport.Measure(gen, edited, clf, plan, spec.Concepts, n, steps, guidance, 2000);
            var e = er.Erased.Single();
            Console.WriteLine($"sweep {name,-42}: {erase} {e.RateBefore:F3} -> {e.RateAfter:F3} (neutral {e.NeutralRate:F3}, chance {e.Chance:F3}); " +
                $"preserve drift mean {er.MeanPreserveDrift:F3} max {er.MaxPreserveDrift:F3}; " +
                string.Join(", ", er.Preserved.Select(c => $"{c.Concept} {c.RateBefore:F3}->{c.RateAfter:F3}")) + $" ({sw.Elapsed.TotalSeconds:F0} s)");
        }
    }
}
