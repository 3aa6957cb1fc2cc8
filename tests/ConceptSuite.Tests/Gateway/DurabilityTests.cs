using ConceptSuite.Contracts;
using ConceptSuite.Gateway.Workflows;
using Microsoft.Extensions.DependencyInjection;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Data.Sqlite;
using GatewayClient = ConceptSuite.Contracts.GatewayService.GatewayServiceClient;
using ConceptSuite.Tests.Infrastructure;

namespace ConceptSuite.Tests.Gateway;

public sealed class DurabilityTests
{
    /// <summary>Import Fashion-MNIST train and test, then stream both through a stage and back.</summary>
    /// <summary>Imports Fashion-MNIST train and test and concept-shapes, then streams two of them through a stage and back (detached).</summary>
    internal static RunWorkflowRequest Workflow(string name = "durable")
    {
        var spec = new WorkflowSpec { Name = name };
        spec.Defaults["train_rows"] = "10000";
        var train = GatewayHarness.Step("train", "dataset.import", "");
        train.Options["source"] = "fashion-mnist:train"; train.Options["limit"] = "$params.train_rows";
        var test = GatewayHarness.Step("test", "dataset.import", "");
        test.Options["source"] = "fashion-mnist:test"; test.Options["limit"] = "5000";
        var shapes = GatewayHarness.Step("shapes", "dataset.import", "");
        shapes.Options["source"] = "concept-shapes"; shapes.Options["limit"] = "600"; shapes.Options["seed"] = "7";
        spec.Steps.Add([train, test, shapes,
            GatewayHarness.Step("echo-train", "transport.echo", "gateway", ("artifact", "$steps.train.dataset")),
            GatewayHarness.Step("echo-shapes", "transport.echo", "gateway", ("artifact", "$steps.shapes.dataset"))]);
        return new RunWorkflowRequest { Spec = spec, Detach = true };
    }

    static string Output(StepInfo s) => s.Outputs.Values.Single().Id;

    [Fact]
    public async Task KillingTheServerMidWorkflowThenResumingGivesTheArtifactsOfAnUndisturbedRun()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "cs-durable-" + Guid.NewGuid().ToString("N"));
        try
        {
            string id;
            Timestamp firstFinished;
            // 1. Run on the real binary; kill -9 as soon as the first step has finished.
            using (var server = await ServerProcess.StartAsync(dataDir))
            {
                using var call = new GatewayClient(server.Channel).RunWorkflow(Workflow());
                WorkflowEvent e;
                do
                {
                    Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None), "stream ended before any step finished:\n" + server.Output);
                    e = call.ResponseStream.Current;
                } while (e.StepFinished is null);
                Assert.Equal("train", e.StepFinished.Name);
                id = e.WorkflowId;
                firstFinished = e.StepFinished.Finished;
                server.Kill();
            }

            // 2. What the crash left: the workflow marked running, only part of its steps done.
            using (var db = new SqliteConnection($"Data Source={Path.Combine(dataDir, "gateway", "workflows.db")};Pooling=False"))
            {
                db.Open();
                using var cmd = db.CreateCommand();
                cmd.CommandText = "SELECT info FROM workflows WHERE id=$id";
                cmd.Parameters.AddWithValue("$id", id);
                var left = WorkflowInfo.Parser.ParseJson((string)cmd.ExecuteScalar()!);
                Assert.Equal(WorkflowState.Running, left.State);
                Assert.Equal(WorkflowState.Succeeded, left.Steps[0].State);
                Assert.True(left.Steps.Count(s => s.State == WorkflowState.Succeeded) < left.Steps.Count);
            }

            // 3. Restart on the same data directory: startup continues the workflow by itself;
            //    ResumeWorkflow attaches to it (or replays it if already done).
            WorkflowInfo resumed;
            using (var server = await ServerProcess.StartAsync(dataDir))
            {
                var client = new GatewayClient(server.Channel);
                using var call = client.ResumeWorkflow(new ResumeWorkflowRequest { Id = id });
                WorkflowInfo? end = null;
                while (await call.ResponseStream.MoveNext(CancellationToken.None))
                    if (call.ResponseStream.Current.Finished is { } f) end = f;
                resumed = end ?? throw new InvalidOperationException("no finished event:\n" + server.Output);
                Assert.True(resumed.State == WorkflowState.Succeeded, resumed.Error + "\n" + server.Output);
            }
            // The step finished before the crash was not computed again.
            Assert.Equal(firstFinished, resumed.Steps[0].Finished);

            // 4. An undisturbed run elsewhere gives the same artifacts, step by step.
            await using var clean = await GatewayHarness.StartAsync();
            var undisturbed = (await GatewayHarness.RunAsync(clean.Channel, Workflow(), TimeSpan.FromMinutes(2))).Last().Finished;
            Assert.Equal(WorkflowState.Succeeded, undisturbed.State);
            Assert.Equal(undisturbed.Id, resumed.Id);
            Assert.Equal(undisturbed.Steps.Select(Output), resumed.Steps.Select(Output));
            Assert.Equal(undisturbed.Steps[0].Outputs["dataset"].Id, undisturbed.Steps[3].Outputs["artifact"].Id);
        }
        finally
        {
            try { Directory.Delete(dataDir, true); } catch (IOException) { }
        }
    }

    /// <summary>
    /// Concept-shapes images (generated, seeded), a TopK SAE fit on their concept labels, a PCA
    /// fit, and the atlas, which renders every step's metrics.
    /// </summary>
    static RunWorkflowRequest FitWorkflow(int epochs)
    {
        var spec = new WorkflowSpec { Name = "durable-fit" };
        var shapes = GatewayHarness.Step("shapes", "dataset.import", "");
        shapes.Options["source"] = "concept-shapes"; shapes.Options["limit"] = "512"; shapes.Options["seed"] = "11";
        var sae = GatewayHarness.Step("sae", "discovery.fit", "", ("activations", "$steps.shapes.dataset"));
        sae.Options["tensor"] = "concept_labels"; sae.Options["concepts"] = "16"; sae.Options["seed"] = "3";
        sae.Options["method_options"] = $"k=2;epochs={epochs};batch_size=32";
        var pca = GatewayHarness.Step("pca", "discovery.fit", "", ("activations", "$steps.shapes.dataset"));
        pca.Options["tensor"] = "concept_labels"; pca.Options["method"] = "pca"; pca.Options["concepts"] = "4";
        spec.Steps.Add([shapes, sae, pca, GatewayHarness.Step("atlas", "atlas.render", "")]);
        return new RunWorkflowRequest { Spec = spec, Detach = true };
    }

    /// <summary>
    /// The same workflow in two fresh data directories gives the same artifact id at every step,
    /// the atlas included (it renders every step's metrics, which hold no wall time any more).
    /// </summary>
    [Fact]
    public async Task TheSameWorkflowInTwoFreshDataDirectoriesGivesTheSameIdAtEveryStep()
    {
        var runs = new List<WorkflowInfo>();
        for (int i = 0; i < 2; i++)
        {
            await using var clean = await GatewayHarness.StartAsync();
            runs.Add((await GatewayHarness.RunAsync(clean.Channel, FitWorkflow(epochs: 100), TimeSpan.FromMinutes(5))).Last().Finished);
            Assert.True(runs[i].State == WorkflowState.Succeeded, runs[i].Error);
        }
        Assert.Equal(4, runs[0].Steps.Count);
        Assert.Equal(runs[0].Steps.Select(Output), runs[1].Steps.Select(Output));
        Console.WriteLine("ids of both runs: " + string.Join(", ", runs[0].Steps.Select(s => $"{s.Name} {Output(s)[..12]}")));
    }

    /// <summary>
    /// Concept-shapes images embedded by ResNet18, a TopK SAE fit on the embeddings (long enough
    /// for checkpoints every second) and its top examples.
    /// </summary>
    static RunWorkflowRequest EmbedFitWorkflow()
    {
        var spec = new WorkflowSpec { Name = "durable-embed-fit" };
        var shapes = GatewayHarness.Step("shapes", "dataset.import", "");
        shapes.Options["source"] = "concept-shapes"; shapes.Options["limit"] = "64"; shapes.Options["seed"] = "5";
        var embed = GatewayHarness.Step("embed", "embedding.embed", "", ("dataset", "$steps.shapes.dataset"));
        var sae = GatewayHarness.Step("sae", "discovery.fit", "", ("activations", "$steps.embed.activations"));
        sae.Options["concepts"] = "32"; sae.Options["seed"] = "3";
        sae.Options["method_options"] = "k=4;epochs=800;batch_size=32";
        var top = GatewayHarness.Step("top", "discovery.top-examples", "",
            ("dictionary", "$steps.sae.dictionary"), ("activations", "$steps.embed.activations"), ("dataset", "$steps.shapes.dataset"));
        top.Options["k"] = "2";
        spec.Steps.Add([shapes, embed, sae, top]);
        return new RunWorkflowRequest { Spec = spec, Detach = true };
    }

    /// <summary>
    /// kill -9 at three points of one workflow — mid-embed, mid-fit (after a checkpoint) and inside
    /// the commit of the fit's dictionary artifact (the process kills itself there through
    /// <see cref="ConceptSuite.Core.Artifacts.FaultPoints"/>) — each followed by a restart on the same
    /// data directory, and the workflow finishes with the artifact ids of an undisturbed run at every step.
    /// </summary>
    [Fact]
    public async Task KillingTheServerMidEmbedMidFitAndInsideACommitGivesTheIdsOfAnUndisturbedRun()
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var dataDir = Path.Combine(Path.GetTempPath(), "cs-crash3-" + Guid.NewGuid().ToString("N"));
        var env = new Dictionary<string, string?> { ["ConceptSuite__Discovery__CheckpointSeconds"] = "1" };
        ServerProcess Launch(string? killAt = null, bool elsewhere = false)
        {
            var e = new Dictionary<string, string?>(env) { [ConceptSuite.Core.Artifacts.FaultPoints.Variable] = killAt };
            return ServerProcess.Launch(["--stages", "all"], e, elsewhere ? null : dataDir, metrics: false);
        }
        bool Any(string stage, string pattern) =>
            Directory.Exists(Path.Combine(dataDir, "jobs", stage)) && Directory.EnumerateFileSystemEntries(Path.Combine(dataDir, "jobs", stage), pattern, SearchOption.AllDirectories).Any();
        async Task KillWhen(ServerProcess server, Func<bool> condition, string what)
        {
            for (var t = System.Diagnostics.Stopwatch.StartNew(); !condition(); await Task.Delay(50))
            {
                Assert.False(server.HasExited, $"the server exited before {what}:\n{server.Output}");
                Assert.True(t.Elapsed < TimeSpan.FromMinutes(3), $"no {what} after 3 minutes:\n{server.Output}");
            }
            server.Kill();
        }
        try
        {
            string id;
            // 1. Killed mid-embed: once the embedding job is bound to its folder and running.
            using (var server = Launch())
            {
                await server.WaitServingAsync("gateway");
                using var call = new GatewayClient(server.Channel).RunWorkflow(EmbedFitWorkflow());
                Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None), server.Output);
                id = call.ResponseStream.Current.WorkflowId;
                await KillWhen(server, () => Any("embedding", "content"), "an embedding job");
            }
            Assert.False(Any("discovery", "content"));
            // 2. Restarted (startup continues the workflow); killed mid-fit, after the fit's first checkpoint.
            using (var server = Launch())
                await KillWhen(server, () => Any("discovery", "state.json"), "a fit checkpoint");
            // 3. Restarted with the crash hook: the fit resumes from its checkpoint, and the process
            //    kills itself inside the commit of the dictionary, its files written but not yet renamed into place.
            using (var server = Launch("artifact.commit:dictionary"))
            {
                Assert.True(server.WaitForExit(180), "the server did not reach the dictionary commit:\n" + server.Output);
                Assert.Contains("killing the process at artifact.commit:dictionary", server.Output);
            }
            // 4. Restarted once more: the workflow finishes.
            WorkflowInfo resumed;
            using (var server = Launch())
            {
                await server.WaitServingAsync("gateway");
                using var call = new GatewayClient(server.Channel).ResumeWorkflow(new ResumeWorkflowRequest { Id = id });
                WorkflowInfo? end = null;
                while (await call.ResponseStream.MoveNext(CancellationToken.None))
                    if (call.ResponseStream.Current.Finished is { } f) end = f;
                resumed = end ?? throw new InvalidOperationException("no finished event:\n" + server.Output);
                Assert.True(resumed.State == WorkflowState.Succeeded, resumed.Error + "\n" + server.Output);
            }
            var crashed = sw.Elapsed.TotalSeconds;

            // The undisturbed run: the same binary in a process of its own on a fresh data directory
            // (an in-process server shares libtorch's process-wide settings, its thread count
            // among them, with every other test, and float sums follow the thread count).
            using var clean = Launch(elsewhere: true);
            await clean.WaitServingAsync("gateway");
            var undisturbed = (await GatewayHarness.RunAsync(clean.Channel, EmbedFitWorkflow(), TimeSpan.FromMinutes(3))).Last().Finished;
            Assert.True(undisturbed.State == WorkflowState.Succeeded, undisturbed.Error);
            Assert.Equal(undisturbed.Id, resumed.Id);
            Assert.Equal(undisturbed.Steps.Select(Output), resumed.Steps.Select(Output));
            Console.WriteLine($"three kills and restarts in {crashed:F0} s, undisturbed run in {sw.Elapsed.TotalSeconds - crashed:F0} s; ids: "
                + string.Join(", ", resumed.Steps.Select(s => $"{s.Name} {Output(s)[..12]}")));
        }
        finally
        {
            try { Directory.Delete(dataDir, true); } catch (IOException) { }
        }
    }

    /// <summary>
    /// A workflow accepted but not yet started when the server stopped (pending: it waited for a
    /// slot) is continued by the recovery at start, as a running one is.
    /// </summary>
    [Fact]
    public async Task AWorkflowLeftPendingIsRecoveredAndRunsToTheEnd()
    {
        await using var server = await GatewayHarness.StartAsync();
        var input = await GatewayHarness.PutMatrixAsync(server.Channel, 8, 8);
        var spec = new WorkflowSpec { Name = "left-pending" };
        spec.Steps.Add(GatewayHarness.Step("echo", "transport.echo", "gateway", ("artifact", input.Ref.Id)));
        var engine = server.Services.GetRequiredService<WorkflowEngine>();
        // What a crash leaves of an accepted workflow that never got a slot: its row, pending.
        var pending = engine.Prepare(spec, new Dictionary<string, string>());
        Assert.Equal(WorkflowState.Pending, pending.State);

        Assert.Equal([pending.Id], engine.RecoverInterrupted(resume: true));
        await engine.WhenIdle(pending.Id);
        var done = engine.Get(pending.Id);
        Assert.Equal(WorkflowState.Succeeded, done.State);
        Assert.Equal(input.Ref.Id, done.Steps[0].Outputs["artifact"].Id);
        Assert.Empty(engine.RecoverInterrupted(resume: true));
    }
}
