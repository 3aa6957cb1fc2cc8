using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using ConceptSuite.Contracts;
using ConceptSuite.Gateway.Atlas;
using ConceptSuite.Gateway.Steps;
using static ConceptSuite.Tests.Gateway.GatewayHarness;

namespace ConceptSuite.Tests.Gateway;

public sealed class AtlasTests
{
    static string Chromium()
    {
        foreach (var p in new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }) if (File.Exists(p)) return p;
        throw new InvalidOperationException("headless Chromium is required: install the Debian package 'chromium' (scripts/prereqs.sh does)");
    }

    internal static async Task<(int Exit, string Out)> Browse(string profile, params string[] args)
    {
        var psi = new ProcessStartInfo(Chromium()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", $"--user-data-dir={profile}" }.Concat(args))
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { p.Kill(true); throw new TimeoutException("chromium did not finish in 90 s: " + await stderr); }
        return (p.ExitCode, await stdout + "\n" + await stderr);
    }

    [Fact]
    public async Task AtlasRendersEveryImageInHeadlessChromium()
    {
        await using var server = await StartAsync();
        var spec = new WorkflowSpec { Name = "atlas-check" };
        var s = Step("shapes", "dataset.import");
        s.Options["source"] = "concept-shapes"; s.Options["limit"] = "120"; s.Options["seed"] = "5";
        spec.Steps.Add([s, Step("atlas", "atlas.render")]);
        var w = (await RunAsync(server.Channel, new RunWorkflowRequest { Spec = spec })).Last().Finished;
        Assert.True(w.State == WorkflowState.Succeeded, w.Error);

        // The gateway's product: an "atlas" artifact holding the page, with the ground-truth concept names.
        var atlasRef = w.Steps[1].Outputs["atlas"];
        Assert.Equal("atlas", atlasRef.Kind);
        var (info, tensors) = await ArtifactTransfer.ReadSmallAsync(server.Channel.CreateCallInvoker(), atlasRef.Id, ["html"]);
        var stored = Encoding.UTF8.GetString(tensors["html"].Data);
        Assert.StartsWith("<!DOCTYPE html>", stored);
        Assert.Contains("<h3>square ", stored);
        Assert.Contains("\"media_type\":\"text/html\"", info.MetadataJson);
        Assert.Equal(tensors["html"].Data.Length, w.Steps[1].Metrics["bytes"]);

        // The model the step rendered, built again from the steps before it.
        var before = w.Clone();
        before.Steps.RemoveAt(1);
        var model = await AtlasBuilder.BuildAsync(server.Channel.CreateCallInvoker(), before);
        Assert.Equal(stored, AtlasHtml.Render(model));
        Assert.Equal(3, model.ClassNames.Count);                 // concept-shapes labels by shape: square, circle, triangle
        Assert.Equal(model.ClassNames.Count, model.Samples.Count);
        Assert.True(model.Concepts.Count >= 10, $"{model.Concepts.Count} concepts");
        // Each shape concept is its own class: P(concept | class) is 1 for its class and 0 elsewhere.
        var square = model.Concepts.Single(c => c.Name == "square");
        Assert.Equal([1.0, 0.0, 0.0], square.ImportancePerClass);
        Assert.All(model.Concepts.Where(c => c.TopImages.Count > 0), c => Assert.Equal(c.TopImages.Count, c.Heatmaps.Count));
        // The renderer's plot inputs (the bottleneck and explain stages supply them in full workflows).
        model = model with
        {
            SparsityPath = [(1, 0.61), (2, 0.78), (4, 0.86), (8, 0.9)],
            FidelityCurves = new Dictionary<string, IReadOnlyList<(double, double)>> { ["deletion"] = [(0, 0.9), (0.5, 0.5), (1, 0.1)], ["insertion"] = [(0, 0.1), (0.5, 0.7), (1, 0.9)] },
        };
        int expected = model.Samples.Sum(x => x.Images.Count) + model.Concepts.Sum(c => c.TopImages.Count + c.Heatmaps.Count + 1) + 2;

        var dir = Path.Combine(server.DataDir, "atlas");
        Directory.CreateDirectory(dir);
        var html = Path.Combine(dir, "atlas.html");
        await File.WriteAllTextAsync(html, AtlasHtml.Render(model));
        Assert.DoesNotContain("http://", File.ReadAllText(html).Replace("http://www.w3.org", ""));  // self-contained

        var (exit, dom) = await Browse(Path.Combine(dir, "profile1"), "--virtual-time-budget=10000", "--dump-dom", new Uri(html).AbsoluteUri);
        Assert.True(exit == 0, dom);
        var check = Regex.Match(dom, @"images=(\d+) broken=(\d+)");
        Assert.True(check.Success, "the page's check did not run:\n" + dom[..Math.Min(2000, dom.Length)]);
        Assert.Equal(expected, int.Parse(check.Groups[1].Value));
        Assert.Equal("0", check.Groups[2].Value);
        // Structure a reader relies on: one card per concept, every image described, every plot captioned, the step table folded.
        Assert.Equal(model.Concepts.Count, Regex.Matches(dom, "<section class=\"concept\">").Count);
        Assert.DoesNotContain(Regex.Matches(dom, "<img[^>]*>").Select(x => x.Value), tag => !Regex.IsMatch(tag, "alt=\"[^\"]+\""));
        Assert.Equal(Regex.Matches(dom, "<figure>").Count, Regex.Matches(dom, "<figcaption>[^<]+</figcaption>").Count);
        Assert.Equal(model.Concepts.Count(c => c.ImportancePerClass.Count > 0) + 2, Regex.Matches(dom, "<figure>").Count);
        Assert.Matches("<details><summary><h2[^>]*>Steps \\(\\d+\\)</h2></summary>", dom);
        Assert.True(dom.IndexOf("<h2>Concepts</h2>", StringComparison.Ordinal) < dom.IndexOf(">Steps (", StringComparison.Ordinal));

        var shot = Path.Combine(dir, "atlas.png");
        (exit, var log) = await Browse(Path.Combine(dir, "profile2"), "--window-size=1280,2000", $"--screenshot={shot}", new Uri(html).AbsoluteUri);
        Assert.True(exit == 0 && File.Exists(shot), log);
        var png = await File.ReadAllBytesAsync(shot);
        Assert.True(png.Length > 10_000, $"screenshot is {png.Length} bytes");
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        // Kept for people to look at (CI keeps artifacts-out/).
        var kept = Path.Combine(ConceptSuite.Tests.Deploy.DeployAssets.RepoRoot, "artifacts-out");
        Directory.CreateDirectory(kept);
        File.Copy(shot, Path.Combine(kept, "atlas-test-screenshot.png"), overwrite: true);
    }
}
