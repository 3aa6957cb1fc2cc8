using InvalidInputException = ConceptSuite.Contracts.InvalidInputException;
using ConceptSuite.Generate.Diffusion;
using ConceptSuite.Generate.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Generate.Model;

/// <summary>
/// A trained text-to-image generator: the denoiser, its vocabulary and its noise schedule, with
/// classifier-free guidance (Ho &amp; Salimans, 2022): ε̃ = ε(x, ∅) + w·(ε(x, c) − ε(x, ∅)).
/// </summary>
public sealed class ConceptGenerator : IDisposable
{
    public const int MaxSamplingSteps = 1000;
    public const double MaxGuidance = 20.0;

    public ConceptGenerator(GeneratorConfig config, ConceptVocabulary vocabulary, Device? device = null)
    {
        Config = config;
        Vocabulary = vocabulary;
        Device = device ?? CPU;
        Model = new ConceptUNet(config, vocabulary.Size);
        Model.to(Device);
        Schedule = new NoiseSchedule(config.DiffusionSteps);
    }

    public GeneratorConfig Config { get; }
    public ConceptVocabulary Vocabulary { get; }
    public ConceptUNet Model { get; }
    public NoiseSchedule Schedule { get; }
    public Device Device { get; }

    /// <summary>Token ids [B, T] of prompts; field names the offending prompt ("prompts[2]").</summary>
    public Tensor Tokenize(IReadOnlyList<string> prompts, string field = "prompts")
    {
        var ids = new long[prompts.Count * Vocabulary.MaxTokens];
        for (int i = 0; i < prompts.Count; i++)
            Vocabulary.Tokenize(prompts[i], $"{field}[{i}]").CopyTo(ids, i * Vocabulary.MaxTokens);
        return tensor(ids, [prompts.Count, Vocabulary.MaxTokens], device: Device);
    }

    /// <summary>The unconditional context: BOS alone.</summary>
    public TextContext Unconditional(long batch) => Model.Encode(Tokenize([""]).expand(batch, -1));

    /// <summary>Checks sampling arguments before any computing.</summary>
    public static void ValidateSampling(int steps, double guidance, string stepsField = "steps", string guidanceField = "guidance")
    {
        if (steps < 1 || steps > MaxSamplingSteps) throw new InvalidInputException(stepsField, $"must be in [1, {MaxSamplingSteps}]");
        if (!double.IsFinite(guidance) || guidance < 0 || guidance > MaxGuidance) throw new InvalidInputException(guidanceField, $"must be in [0, {MaxGuidance}]");
    }

    /// <summary>Guided ε for a single context (conditional and unconditional in one batch).</summary>
    public Tensor GuidedEps(Tensor x, Tensor t, TextContext cond, double guidance)
    {
        long b = x.shape[0];
        if (guidance == 1.0) return Model.Forward(x, t, Conditioning.Single(cond));
        var un = Unconditional(b);
        long tc = cond.Embeddings.shape[1], tu = un.Embeddings.shape[1], t2 = Math.Max(tc, tu);
        // Contexts of different lengths (e.g. learned tokens) are padded with unattended zeros.
        Tensor Pad(Tensor e, long len) => len == t2 ? e : cat([e, zeros(b, t2 - len, e.shape[2], device: e.device)], 1);
        Tensor PadMask(Tensor m, long len) => len == t2 ? m : cat([m, zeros(b, t2 - len, ScalarType.Bool, device: m.device)], 1);
        var emb = cat([Pad(cond.Embeddings.expand(b, tc, -1), tc), Pad(un.Embeddings, tu)], 0);
        var mask = cat([PadMask(cond.AttendMask.expand(b, tc), tc), PadMask(un.AttendMask, tu)], 0);
        var e = Model.Forward(cat([x, x], 0), cat([t, t], 0), Conditioning.Single(new TextContext(emb, mask)));
        var ec = e[..(int)b]; var eu = e[(int)b..];
        return eu + guidance * (ec - eu);
    }

    /// <summary>Guided ε for any conditioning (two passes).</summary>
    public Tensor GuidedEps(Tensor x, Tensor t, Conditioning cond, double guidance)
    {
        var ec = Model.Forward(x, t, cond);
        if (guidance == 1.0) return ec;
        var eu = Model.Forward(x, t, Conditioning.Single(Unconditional(x.shape[0])));
        return eu + guidance * (ec - eu);
    }

    /// <summary>Images in [−1, 1], [B,3,H,W] on the CPU, one per prompt and seed.</summary>
    public Tensor Generate(IReadOnlyList<string> prompts, IReadOnlyList<long> seeds, int steps, double guidance, Action<int, int>? onStep = null)
    {
        ValidateSampling(steps, guidance);
        var tokens = Tokenize(prompts);
        using var scope = NewDisposeScope();
        using var _ = inference_mode();
        var ctx = Model.Encode(tokens);
        return Sample(ctx, seeds, steps, guidance, onStep).MoveToOuterDisposeScope();
    }

    /// <summary>Samples from a text context (embeddings may be edited or learned).</summary>
    public Tensor Sample(TextContext ctx, IReadOnlyList<long> seeds, int steps, double guidance, Action<int, int>? onStep = null)
    {
        Model.eval();
        var x = DdimSampler.InitialNoise(seeds, Config.ImageSize, Device);
        return DdimSampler.Sample(Schedule, (xt, t) => GuidedEps(xt, t, ctx, guidance), x, steps, onStep).cpu();
    }

    /// <summary>Samples from any conditioning (regional fusion for composition).</summary>
    public Tensor Sample(Conditioning cond, IReadOnlyList<long> seeds, int steps, double guidance)
    {
        Model.eval();
        var x = DdimSampler.InitialNoise(seeds, Config.ImageSize, Device);
        return DdimSampler.Sample(Schedule, (xt, t) => GuidedEps(xt, t, cond, guidance), x, steps).cpu();
    }

    /// <summary>
    /// Fixes the token table to given concept embeddings [K, D] (e.g. MiniLM word embeddings) and
    /// freezes it; BOS gets a seeded random vector of the rows' mean norm, PAD zeros (never attended).
    /// </summary>
    public void FreezeTokenEmbeddings(Tensor conceptRows, int seed)
    {
        if (conceptRows.dim() != 2 || conceptRows.shape[0] != Vocabulary.Concepts.Count || conceptRows.shape[1] != Config.TextDim)
            throw new InvalidInputException("token_embeddings", $"must be [{Vocabulary.Concepts.Count}, {Config.TextDim}]");
        using var _ = no_grad();
        using var gen = new Generator((ulong)seed + 17);
        var rows = conceptRows.to_type(ScalarType.Float32);
        var bos = randn([1, Config.TextDim], generator: gen);
        bos = bos / bos.norm() * rows.norm(1).mean();
        var table = cat([bos, zeros(1, Config.TextDim), rows], 0).to(Device);
        Model.TokenEmbeddings.copy_(table);
        Model.TokenEmbeddings.requires_grad = false;
    }

    public void Dispose() => Model.Dispose();
}
