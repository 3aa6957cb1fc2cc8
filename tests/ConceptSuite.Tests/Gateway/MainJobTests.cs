using ConceptSuite.Contracts;
using ConceptSuite.Core.Data;
using ConceptSuite.Gateway.Atlas;
using ConceptSuite.Gateway.Steps;
using Xunit.Abstractions;
using static ConceptSuite.Tests.Gateway.GatewayHarness;

namespace ConceptSuite.Tests.Gateway;

public sealed class MainJobTests(ITestOutputHelper output)
{
    [Fact]
    public async Task DiscoverNameCbmOnASliceOfFashionMnistGivesSensibleNumbersAndAnAtlas()
    {
        await using var server = await StartAsync();
        var request = new RunWorkflowRequest { Builtin = "discover-name-cbm" };
        request.Parameters["train_rows"] = "120";
        request.Parameters["test_rows"] = "60";
        request.Parameters["concepts"] = "32";
        request.Parameters["sae_options"] = "k=4;epochs=40;batch_size=30";
        request.Parameters["vocabulary_size"] = "300";
        var events = await RunAsync(server.Channel, request, TimeSpan.FromMinutes(5));
        var w = events.Last().Finished;
        foreach (var st in w.Steps)
            output.WriteLine($"{st.Name} {st.State} {(st.Finished.ToDateTime() - st.Started.ToDateTime()).TotalSeconds:0.0}s {string.Join(" ", st.Metrics.Where(kv => !kv.Key.StartsWith("path_")).Select(kv => $"{kv.Key}={kv.Value:0.####}"))} {st.Error}");
        Assert.True(w.State == WorkflowState.Succeeded, w.Error);
        StepInfo S(string name) => w.Steps.Single(s => s.Name == name);

        Assert.Equal(120, S("import-train").Metrics["rows"]);
        Assert.Equal(10, S("import-train").Metrics["classes"]);
        Assert.Equal(120, S("embed-train").Metrics["rows"]);
        Assert.Equal(60, S("embed-test").Metrics["rows"]);
        Assert.Equal(512, S("embed-train").Metrics["dims"]);      // ResNet18 pooled features
        var fit = S("discover").Metrics;
        Assert.InRange(fit["l0"], 1, 4);                            // TopK: at most k active latents per sample
        Assert.InRange(fit["dead_fraction"], 0, 0.5);
        Assert.True(double.IsFinite(fit["mse"]) && fit["mse"] >= 0, $"mse {fit["mse"]}");
        Assert.Equal(32, S("top-examples").Metrics["concepts"]);
        Assert.Contains(events, e => e.StepProgress is { Step: "embed-train" });

        // Naming: every concept gets a word of the vocabulary (WordNet's 300 most frequent nouns and
        // adjectives plus the class-name and caption words); 120 rows of 512 dimensions make the ridge bridge exact.
        var vocabulary = await ArtifactTransfer.ReadSmallAsync(server.Channel.CreateCallInvoker(), S("vocabulary").Outputs["vocabulary"].Id, ["embeddings"]);
        var words = StepMetadata.Strings(vocabulary.Info.MetadataJson, "words").ToHashSet();
        Assert.Equal(words.Count, (int)S("vocabulary").Metrics["words"]);
        Assert.Contains("sandal", words);
        Assert.All(FashionPixelAttributes.Words, a => Assert.Contains(a, words));   // the captions say the pixel attributes
        Assert.InRange(S("vocabulary").Metrics["glosses"], 0.9 * words.Count, words.Count);   // measured 312 of 314 words have a definition
        var names = await ArtifactTransfer.ReadSmallAsync(server.Channel.CreateCallInvoker(), S("name").Outputs["names"].Id, ["similarity"]);
        var conceptNames = StepMetadata.Strings(names.Info.MetadataJson, "names");
        output.WriteLine("names: " + string.Join(", ", conceptNames));
        Assert.Equal(32, conceptNames.Count);
        Assert.All(conceptNames, n => Assert.Contains(n, words));
        Assert.True(S("name").Metrics["bridge_r2"] > 0.99, $"bridge R² {S("name").Metrics["bridge_r2"]}");   // measured 1.0
        Assert.InRange(S("name").Metrics["similarity_mean"], 0.2, 1);                                          // measured 0.477
        // Names beyond classes: measured 11 distinct names, 3 of them attribute words (long-sleeved on 8
        // concepts, patterned on 2); each concept also has its nearest WordNet definition.
        Assert.Contains(conceptNames, n => FashionPixelAttributes.Words.Contains(n));
        Assert.InRange(S("name").Metrics["distinct_names"], 6, 32);
        using (var meta = System.Text.Json.JsonDocument.Parse(names.Info.MetadataJson))
        {
            var glosses = meta.RootElement.GetProperty("glosses").EnumerateArray().ToList();
            Assert.Equal(32, glosses.Count);
            Assert.All(glosses, g => Assert.False(string.IsNullOrWhiteSpace(g.GetProperty("gloss").GetString())));
        }

        // Codes: TopK keeps exactly k = 4 latents per row.
        Assert.Equal(4, S("encode-train").Metrics["l0"], 6);
        Assert.Equal(60, S("encode-test").Metrics["rows"]);

        // Accuracy on the 60 held-out rows (measured: probe 0.683, sparse probe 0.700 with 4 concepts
        // per class, PCBM-h 0.683); Predict reproduces the accuracy Train scored on the same rows.
        double probe = S("probe").Metrics["eval_accuracy"], sparse = S("sparse-probe").Metrics["eval_accuracy"], pcbmH = S("pcbm-h").Metrics["eval_accuracy"];
        Assert.InRange(probe, 0.6, 0.8);
        Assert.Equal(probe, S("predict-probe").Metrics["accuracy"], 6);
        Assert.InRange(sparse, probe - 0.1, 1);
        Assert.InRange(S("sparse-probe").Metrics["concepts_per_class_max"], 1, 8);
        Assert.InRange(pcbmH, probe - 0.05, probe + 0.05);                                                     // PCBM-h recovers the probe
        Assert.Equal(20, Enumerable.Range(0, 100).Count(i => S("sparse-probe").Metrics.ContainsKey($"path_{i:D2}_accuracy")));

        // Explanations of the sparse probe: a few concepts per class; completeness against the probe ≈ 1
        // (measured 1.03); deleting the most important concepts first destroys the score fast.
        Assert.Equal(10, S("importance").Metrics["classes"]);
        Assert.InRange(S("importance").Metrics["concepts_used_per_class"], 1, 8);     // measured 2.1
        Assert.InRange(S("fidelity").Metrics["completeness"], 0.8, 1.2);
        Assert.True(S("fidelity").Metrics["deletion_area"] < 0.2 && S("fidelity").Metrics["insertion_area"] > 0.8,
            $"deletion {S("fidelity").Metrics["deletion_area"]}, insertion {S("fidelity").Metrics["insertion_area"]}");

        // The summary repeats what the steps measured, and ranks named concepts.
        var report = S("report").Metrics;
        Assert.Equal(probe, report["probe_accuracy"], 6);
        Assert.Equal(sparse, report["sparse_probe_accuracy"], 6);
        Assert.Equal(pcbmH, report["pcbm_h_accuracy"], 6);
        Assert.Equal(fit["r2"], report["dictionary_r2"], 6);
        Assert.Equal(fit["val_r2"], report["dictionary_val_r2"], 6);      // the dictionary scored on the test images' activations
        Assert.True(fit["val_r2"] < fit["r2"], $"held-out R² {fit["val_r2"]} vs train {fit["r2"]}");
        Assert.Equal(fit["l0"], report["dictionary_l0"], 6);
        var summary = await ArtifactTransfer.ReadSmallAsync(server.Channel.CreateCallInvoker(), S("report").Outputs["report"].Id, ["global_importance"]);
        var top = ReportStep.TopConcepts(summary.Info.MetadataJson);
        Assert.InRange(top.Count, 1, 10);
        Assert.All(top, t => Assert.Equal(conceptNames[t.Concept], t.Name));
        Assert.True(top.Zip(top.Skip(1)).All(p => p.First.Importance >= p.Second.Importance));

        // The atlas the last step stored is the page of the model built from the steps before it.
        var before = w.Clone();
        before.Steps.Remove(S("atlas"));
        var atlas = await AtlasBuilder.BuildAsync(server.Channel.CreateCallInvoker(), before);
        Assert.Equal(10, atlas.Samples.Count);
        Assert.NotEmpty(atlas.Concepts);
        Assert.All(atlas.Concepts, c => Assert.InRange(c.TopImages.Count, 1, 6));
        Assert.StartsWith(top[0].Name + " (concept " + top[0].Concept + ")", atlas.Concepts[0].Name);   // most important first
        Assert.Equal(10, atlas.Concepts[0].ImportancePerClass.Count);
        Assert.Equal(20, atlas.SparsityPath.Count);
        Assert.Equal(["deletion", "insertion"], atlas.FidelityCurves.Keys.Order().ToArray());
        Assert.Equal(33, atlas.FidelityCurves["deletion"].Count);                                      // K + 1 points
        Assert.Contains(atlas.Models, m => m.Model == "pcbm-h" && m.Metrics.ContainsKey("eval_accuracy"));
        var html = AtlasHtml.Render(atlas);
        int images = atlas.Samples.Sum(x => x.Images.Count) + atlas.Concepts.Sum(c => c.TopImages.Count + (c.ImportancePerClass.Count > 0 ? 1 : 0) + (c.Density.Count > 0 ? 1 : 0))
            + (atlas.SparsityPath.Count > 0 ? 1 : 0) + (atlas.FidelityCurves.Count > 0 ? 1 : 0);
        Assert.Equal(images, html.Split("src=\"data:image/png;base64,").Length - 1);
        var stored = await ArtifactTransfer.ReadSmallAsync(server.Channel.CreateCallInvoker(), S("atlas").Outputs["atlas"].Id, ["html"]);
        Assert.Equal("atlas", stored.Info.Ref.Kind);
        Assert.Equal(html, System.Text.Encoding.UTF8.GetString(stored.Tensors["html"].Data));
        Assert.Contains(top[0].Name, html);
        Assert.NotNull(atlas.Concepts[0].Gloss);
        Assert.Contains("class=\"gloss\"", html);                                                   // the sentence-level name on each card

        // Another importance estimator: every step before it is reused by its content key, the explain
        // steps and the summary run again, and the accuracies are the same artifacts' numbers.
        request.Parameters["importance"] = "occlusion";
        var again = (await RunAsync(server.Channel, request, TimeSpan.FromMinutes(2))).Last().Finished;
        Assert.True(again.State == WorkflowState.Succeeded, again.Error);
        Assert.NotEqual(w.Id, again.Id);
        var rerun = again.Steps.Where(s => !s.Reused).Select(s => s.Name).ToArray();
        Assert.Equal(["importance", "fidelity", "report", "atlas"], rerun);
        Assert.Equal(S("sparse-probe").Outputs["model"].Id, again.Steps.Single(s => s.Name == "sparse-probe").Outputs["model"].Id);
        Assert.Equal(probe, again.Steps.Single(s => s.Name == "report").Metrics["probe_accuracy"], 6);
    }
}
