using ConceptSuite.Generate.Evaluation;
using ConceptSuite.Generate.Model;
using ConceptSuite.Generate.Text;
using TorchSharp;
using static TorchSharp.torch;
using InvalidInputException = ConceptSuite.Contracts.InvalidInputException;

namespace ConceptSuite.Generate.Editing;

/// <summary>
/// Unsupervised concept extraction from one image in the manner of ConceptExpress (Hao et al.,
/// 2024): (1) locate — the image is noised to t = 0.3T under four seeds, the denoiser's last
/// decoder feature maps are averaged, L2-normalised per pixel and clustered by k-means (k-means++
/// seeding) into k regions; (2) learn — one token embedding e_k per region minimises the masked
/// diffusion loss E‖m_k ⊙ (ε − ε_θ(x_t, t, [BOS, e_k]))‖² / ‖m_k‖₁ with the generator frozen
/// (Adam, lr 0.05, 8 noise draws per step); (3) regenerate from each token alone and judge the
/// regenerations and the masked source with the concept classifier.
/// </summary>
public static class ConceptExtraction
{
    public static IReadOnlyList<ExtractedConceptResult> Extract(ConceptGenerator g, ConceptClassifier judge, Tensor image, int k,
        int tokenSteps, int samples, int seed, int steps, double guidance, CancellationToken ct = default)
    {
        int s = g.Config.ImageSize;
        if (image.dim() != 4 || image.shape[0] != 1 || image.shape[1] != 3 || image.shape[2] != s || image.shape[3] != s)
            throw new InvalidInputException("image", $"must be [1,3,{s},{s}] (or [3,{s},{s}])");
        if (k is < 1 or > 6) throw new InvalidInputException("num_concepts", "must be in [1, 6]");
        if (tokenSteps is < 1 or > 5000) throw new InvalidInputException("token_steps", "must be in [1, 5000]");
        if (samples is < 1 or > 32) throw new InvalidInputException("samples", "must be in [1, 32]");
        ConceptGenerator.ValidateSampling(steps, guidance);
        var x0 = image.to_type(ScalarType.Float32).to(g.Device);
        var masks = Locate(g, x0, k, seed);
        var results = new List<ExtractedConceptResult>();
        var judged = judge.Groups.ToList();
        var emb = g.Model.TokenEmbeddings.detach();
        var conceptRows = emb[2..];
        for (int c = 0; c < k; c++)
        {
            ct.ThrowIfCancellationRequested();
            var mask = masks[c];
            var (token, loss) = LearnToken(g, x0, mask, tokenSteps, seed + c, ct);
            using var scope = NewDisposeScope();
            var cos = nn.functional.cosine_similarity(conceptRows, token.unsqueeze(0), 1);
            int best = (int)cos.argmax().item<long>();
            var ctx = TokenContext(g, token.unsqueeze(0));
            Tensor regen;
            using (inference_mode())
                regen = g.Sample(ctx, Enumerable.Range(0, samples).Select(i => (long)seed * 1000 + c * 100 + i).ToList(), steps, guidance);
            var m = mask.to_type(ScalarType.Float32).cpu();
            var source = x0.cpu() * m;
            var rp = judge.Predict(regen); var sp = judge.Predict(source);
            var regenConcepts = judged.ToDictionary(j => j.Group, j => j.Concepts[(int)rp[j.Group].mean([0]).argmax().item<long>()]);
            var sourceConcepts = judged.ToDictionary(j => j.Group, j => j.Concepts[(int)sp[j.Group][0].argmax().item<long>()]);
            results.Add(new ExtractedConceptResult(mask.cpu().MoveToOuterDisposeScope(), token.cpu().MoveToOuterDisposeScope(),
                g.Vocabulary.Concepts[best], cos[best].item<float>(), regen.MoveToOuterDisposeScope(), regenConcepts, sourceConcepts, loss));
        }
        return results;
    }

    static TextContext TokenContext(ConceptGenerator g, Tensor tokens)
    {
        var bos = g.Model.TokenEmbeddings[ConceptVocabulary.Bos].detach();
        long b = tokens.shape[0];
        var e = stack([bos.unsqueeze(0).expand(b, -1), tokens], 1);
        return new TextContext(e, ones([b, 2], ScalarType.Bool, device: e.device));
    }

    /// <summary>k masks [H,W] (bool) from k-means over the denoiser's per-pixel features.</summary>
    static List<Tensor> Locate(ConceptGenerator g, Tensor x0, int k, int seed)
    {
        using var scope = NewDisposeScope();
        using var _ = inference_mode();
        g.Model.eval();
        int t = (int)(0.3 * g.Schedule.Steps);
        Tensor? sum = null;
        for (int i = 0; i < 4; i++)
        {
            using var gen = new Generator((ulong)(seed * 31 + i));
            var noise = randn(x0.shape, generator: gen).to(x0.device);
            var tt = full(1, t, ScalarType.Int64, device: x0.device);
            var f = g.Model.ForwardWithFeatures(g.Schedule.AddNoise(x0, noise, tt), tt, Conditioning.Single(g.Unconditional(1))).Features;
            sum = sum is null ? f : sum + f;
        }
        var feats = sum!.squeeze(0).flatten(1).t(); // [HW, C]
        feats = feats / feats.norm(1, keepdim: true).clamp_min(1e-6);
        var labels = ConceptSuite.Core.Numerics.KMeans.Fit(feats.cpu(), k, maxIter: 30, seed: seed, field: "num_concepts").Labels;
        int s = g.Config.ImageSize;
        return Enumerable.Range(0, k).Select(c => labels.eq(c).reshape(s, s).MoveToOuterDisposeScope()).ToList();
    }

    static (Tensor Token, double Loss) LearnToken(ConceptGenerator g, Tensor x0, Tensor mask, int tokenSteps, int seed, CancellationToken ct)
    {
        var model = g.Model;
        var frozen = model.parameters().Select(p => (p, p.requires_grad)).ToList();
        foreach (var (p, _) in frozen) p.requires_grad = false;
        try
        {
            var init = model.TokenEmbeddings.detach()[2..].mean([0]).clone();
            var token = new TorchSharp.Modules.Parameter(init, true);
            using var opt = optim.Adam([token], 0.05);
            var m = mask.to_type(ScalarType.Float32).to(x0.device).unsqueeze(0).unsqueeze(0);
            double last = double.NaN;
            using var gen = new Generator((ulong)(seed + 104729));
            model.eval();
            const int draws = 8;
            for (int step = 0; step < tokenSteps; step++)
            {
                ct.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var x = x0.expand(draws, -1, -1, -1);
                var t = randint(0, g.Schedule.Steps, [draws], generator: gen).to(x0.device);
                var noise = randn(x.shape, generator: gen).to(x0.device);
                var ctx = TokenContext(g, token.unsqueeze(0).expand(draws, -1));
                var eps = model.Forward(g.Schedule.AddNoise(x, noise, t), t, Conditioning.Single(ctx));
                var loss = ((eps - noise).pow(2) * m).sum() / (m.sum() * 3 * draws);
                opt.zero_grad();
                loss.backward();
                opt.step();
                last = loss.item<float>();
            }
            return (token.detach(), last);
        }
        finally
        {
            foreach (var (p, req) in frozen) p.requires_grad = req;
        }
    }
}
