using System.Text;
using System.Text.RegularExpressions;
using ConceptSuite.Contracts;
using ConceptSuite.Gateway.Atlas;
using ConceptSuite.Gateway.Steps;
using Xunit.Abstractions;
using static ConceptSuite.Tests.Gateway.GatewayHarness;

namespace ConceptSuite.Tests.Gateway;

/// <summary>The text-features workflow at a small size: WordNet glosses → MiniLM tokens → TopK SAE → metrics, names, atlas text cards.</summary>
public sealed class TextFeaturesTests(ITestOutputHelper output)
{
    [Fact]
    public async Task TextFeaturesFitsAnSaeOnMiniLmTokensAndShowsTopTokensInContext()
    {
        await using var server = await StartAsync();
        const int k = 8;
        var w = await RunBuiltinAsync(server.Channel, "text-features", TimeSpan.FromMinutes(4),
            ("texts", "300"), ("concepts", "256"), ("sae_options", $"k={k};epochs=15;batch_size=256"), ("splice_texts", "64"), ("seed", "1"));
        Assert.True(w.State == WorkflowState.Succeeded, w.Error + string.Join("; ", w.Steps.Select(s => s.Error)));
        var tokens = w.Steps.Single(s => s.Name == "tokens");
        var f = w.Steps.Single(s => s.Name == "features").Metrics;
        output.WriteLine($"tokens {tokens.Metrics["tokens"]} texts {tokens.Metrics["texts"]}: " + string.Join(", ", f.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}={kv.Value:0.####}")));
        Assert.Equal(300, tokens.Metrics["texts"]);
        Assert.Equal(tokens.Metrics["tokens"], f["tokens"]);
        Assert.Equal(384, tokens.Metrics["dims"]);
        // TopK: k active latents per token (ReLU may drop a non-positive one of the k).
        Assert.InRange(f["l0"], k - 0.5, k);
        Assert.InRange(f["explained_variance"], 0.55, 1);       // measured 0.597
        Assert.InRange(f["dead_fraction"], 0, 0.1);             // measured 0
        Assert.InRange(f["dense_fraction"], 0, 0.2);
        // The splice is exact with the tap's own values; the reconstruction keeps far more of the sentence than mean ablation.
        Assert.True(f["cosine_identity"] > 0.99999, $"identity {f["cosine_identity"]}");
        Assert.True(f["cosine_sae"] > f["cosine_mean_ablation"] + 0.1, $"sae {f["cosine_sae"]} vs ablation {f["cosine_mean_ablation"]}");
        Assert.InRange(f["cosine_recovered"], 0.65, 1);         // measured 0.729 (cosine 0.756 vs 0.098 under mean ablation)
        Assert.True(f["distinct_names"] >= 60, $"{f["distinct_names"]} distinct names");   // measured 136 of 256 live latents

        // The atlas: text cards with the top token highlighted, the firing-density histogram and the headline numbers.
        var atlasRef = w.Steps.Single(s => s.Name == "atlas").Outputs["atlas"];
        var (_, tensors) = await ArtifactTransfer.ReadSmallAsync(server.Channel.CreateCallInvoker(), atlasRef.Id, ["html"]);
        var html = Encoding.UTF8.GetString(tensors["html"].Data);
        int cards = Regex.Matches(html, "<section class=\"concept\">").Count;
        Assert.InRange(cards, 20, 64);
        Assert.Equal(cards, Regex.Matches(html, "<div class=\"texts\">").Count);
        Assert.True(Regex.Matches(html, "<span class=\"tok top\"").Count >= cards, "every card highlights its top tokens");
        Assert.Contains("latent firing density histogram", html);
        Assert.Contains("explained variance", html);
        Assert.Contains("cosine recovered", html);

        var before = w.Clone();
        before.Steps.RemoveAt(before.Steps.Count - 1);
        var model = await AtlasBuilder.BuildAsync(server.Channel.CreateCallInvoker(), before);
        Assert.Equal(html, AtlasHtml.Render(model));
        var first = model.Concepts[0];
        Assert.NotEmpty(first.TopTexts);
        // A card's examples come best first, each highlighting the token of its value; the best is its text's largest activation.
        foreach (var t in first.TopTexts) Assert.Equal(t.Value, t.Activations[t.Highlight], 4);
        Assert.Equal(first.TopTexts.Select(t => t.Value).OrderByDescending(v => v), first.TopTexts.Select(t => t.Value));
        Assert.Equal(first.TopTexts[0].Activations.Max(), first.TopTexts[0].Activations[first.TopTexts[0].Highlight], 4);

        // In a browser: the cards' text lines and highlighted tokens are in the rendered DOM, the histogram decoded.
        var dir = Path.Combine(server.DataDir, "text-atlas");
        Directory.CreateDirectory(dir);
        var file = Path.Combine(dir, "atlas.html");
        await File.WriteAllTextAsync(file, html);
        var (exit, dom) = await AtlasTests.Browse(Path.Combine(dir, "profile"), "--virtual-time-budget=10000", "--dump-dom", new Uri(file).AbsoluteUri);
        Assert.True(exit == 0, dom);
        Assert.Matches(@"images=\d+ broken=0", dom);
        Assert.Equal(cards, Regex.Matches(dom, "<section class=\"concept\">").Count);
        Assert.True(Regex.Matches(dom, "<p class=\"tokctx\" aria-label=\"[^\"]+\">").Count >= cards);
        Assert.True(Regex.Matches(dom, "<span class=\"tok top\" style=\"background:rgba\\(255,120,0,1\\)\"").Count >= cards);
    }
}
