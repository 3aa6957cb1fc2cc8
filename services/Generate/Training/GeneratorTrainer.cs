using ConceptSuite.Contracts;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Generate.Data;
using ConceptSuite.Generate.Model;
using ConceptSuite.Generate.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Generate.Training;

/// <summary>
/// Trains ε_θ with the simple DDPM objective (Ho et al., 2020) E‖ε − ε_θ(√ᾱ_t x_0 + √(1−ᾱ_t) ε, t, c)‖²,
/// t ~ U{0..T−1}, with condition dropout for classifier-free guidance and per-word dropout.
/// AdamW, 5% linear warm-up, cosine decay to 10% of the rate. Deterministic in the seed; a
/// resumed run replays the same batch sequence from its step with the optimiser's moments and the
/// smoothed loss of the checkpoint, so it ends bit for bit where the uninterrupted run does.
/// </summary>
public static class GeneratorTrainer
{
    const string SmoothedLossKey = "smoothed_loss";

    /// <summary>Per-sample token ids [N, T] from concept labels (concept words in prompt order).</summary>
    public static long[][] PromptTokens(ConceptImages data, ConceptVocabulary vocab)
    {
        var result = new long[data.Count][];
        var labels = data.ConceptLabels.data<float>().ToArray();
        int k = data.ConceptNames.Count;
        for (long i = 0; i < data.Count; i++)
        {
            var words = Enumerable.Range(0, k).Where(j => labels[i * k + j] > 0.5f).Select(j => data.ConceptNames[j]);
            var prompt = ConceptVocabulary.BuildPrompt(words);
            result[i] = vocab.Tokenize(prompt, "dataset.concept_labels");
        }
        return result;
    }

    /// <param name="onStep">(step, smoothed loss) after every step; progress lives there.</param>
    /// <param name="checkpoints">Resume state from a checkpoint and when to capture it (null: none).</param>
    public static double Train(ConceptGenerator generator, ConceptImages data, TrainingOptions options, int startStep = 0,
        Action<int, double>? onStep = null, CancellationToken ct = default, TrainerCheckpoints? checkpoints = null)
    {
        options.Validate();
        if (data.ImageSize != generator.Config.ImageSize)
            throw new InvalidInputException("dataset.image_size", $"is {data.ImageSize}; the generator is {generator.Config.ImageSize}");
        var device = generator.Device;
        var model = generator.Model;
        var tokens = PromptTokens(data, generator.Vocabulary);
        int T = generator.Vocabulary.MaxTokens;
        using var x0All = data.Normalized().to(device);
        var parameters = model.parameters().Where(p => p.requires_grad).ToList();
        using var opt = optim.AdamW(parameters, options.LearningRate, weight_decay: 0.0);
        int warm = Math.Max(1, options.Steps / 20);
        double lastLoss = double.NaN, smoothed = double.NaN;
        if (checkpoints?.Resume is { } resume)
        {
            OptimizerCheckpoint.Restore(opt, resume[OptimizerCheckpoint.Key]);
            smoothed = resume[SmoothedLossKey].to_type(ScalarType.Float64).item<double>();
        }
        model.train();
        for (int step = startStep; step < options.Steps; step++)
        {
            ct.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            // Batch randomness derives from (seed, step), so a resumed run — also in another process —
            // sees the same batches (HashCode.Combine would not do: it is seeded per process).
            var rng = new Random(unchecked((int)(options.Seed * 1_000_003L + step)));
            using var g = new Generator((ulong)(options.Seed * 1_000_003L + step));
            var idx = new long[options.BatchSize];
            var tok = new long[options.BatchSize * T];
            for (int b = 0; b < options.BatchSize; b++)
            {
                idx[b] = rng.NextInt64(data.Count);
                var src = tokens[idx[b]];
                bool uncond = rng.NextDouble() < options.ConditionDropout;
                int w = 1;
                tok[b * T] = ConceptVocabulary.Bos;
                for (int j = 1; j < T; j++) tok[b * T + j] = ConceptVocabulary.Pad;
                if (!uncond)
                    for (int j = 1; j < T && src[j] != ConceptVocabulary.Pad; j++)
                        if (rng.NextDouble() >= options.TokenDropout) tok[b * T + w++] = src[j];
            }
            var x0 = x0All.index_select(0, tensor(idx, device: device));
            var t = randint(0, generator.Schedule.Steps, [options.BatchSize], generator: g).to(device);
            var noise = randn(x0.shape, generator: g).to(device);
            var xt = generator.Schedule.AddNoise(x0, noise, t);
            var ctx = model.Encode(tensor(tok, [options.BatchSize, T], device: device));
            var eps = model.Forward(xt, t, Conditioning.Single(ctx));
            var loss = nn.functional.mse_loss(eps, noise);
            double lr = step < warm ? options.LearningRate * (step + 1) / warm
                : options.LearningRate * (0.1 + 0.9 * 0.5 * (1 + Math.Cos(Math.PI * (step - warm) / Math.Max(1, options.Steps - warm))));
            foreach (var pg in opt.ParamGroups) pg.LearningRate = lr;
            opt.zero_grad();
            loss.backward();
            nn.utils.clip_grad_norm_(parameters, 1.0);
            opt.step();
            lastLoss = loss.item<float>();
            smoothed = double.IsNaN(smoothed) ? lastLoss : 0.95 * smoothed + 0.05 * lastLoss;
            onStep?.Invoke(step + 1, smoothed);
            if (checkpoints is not null && step + 1 < options.Steps && checkpoints.Due(step + 1))
            {
                var state = new Dictionary<string, torch.Tensor>
                {
                    [OptimizerCheckpoint.Key] = OptimizerCheckpoint.Save(opt),
                    [SmoothedLossKey] = tensor(new[] { smoothed }),
                };
                checkpoints.Save(step + 1, state);
            }
        }
        model.eval();
        return smoothed;
    }
}

/// <summary>
/// Checkpoints of a <see cref="GeneratorTrainer.Train"/> run: the trainer's own state (the
/// optimiser's moments and the smoothed loss, as tensors) to resume from, and, after each step the
/// caller says is due, that state for the caller to save with the weights and the step.
/// </summary>
public sealed class TrainerCheckpoints
{
    /// <summary>The trainer state of the checkpoint being resumed (null: a fresh run).</summary>
    public IReadOnlyDictionary<string, torch.Tensor>? Resume { get; init; }
    /// <summary>Whether to capture the state after this many steps.</summary>
    public required Func<int, bool> Due { get; init; }
    /// <summary>(steps done, trainer state); the tensors are the callee's to dispose once saved.</summary>
    public required Action<int, Dictionary<string, torch.Tensor>> Save { get; init; }
}
