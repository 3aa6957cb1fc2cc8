using ConceptSuite.Contracts;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Data.Sqlite;
using GatewayClient = ConceptSuite.Contracts.GatewayService.GatewayServiceClient;
using ConceptSuite.Tests.Infrastructure;

namespace ConceptSuite.Tests.Gateway;

public sealed class DurabilityTests
{
    /// <summary>Import Fashion-MNIST train and test, then stream both through a stage and back.</summary>
    static RunWorkflowRequest Workflow()
    {
        var spec = new WorkflowSpec { Name = "durable" };
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
}
