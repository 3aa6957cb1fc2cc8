using System.Text.Json;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Hosting;
using ConceptSuite.Core.Jobs;
using ConceptSuite.Core.Limits;
using ConceptSuite.Embedding.Data;
using ConceptSuite.Embedding.Methods;
using ConceptSuite.Embedding.Models;
using Grpc.Core;
using TorchSharp;

namespace ConceptSuite.Embedding.Jobs;

/// <summary>
/// TrainBackbone: trains a built-in network (SmallCnn or SmallVit) on a dataset artifact's images
/// and labels with cross-entropy and Adam (Kingma &amp; Ba 2015), seeded shuffling, one progress and
/// metrics event per epoch, a checkpoint (weights, Adam's state and the epoch) after each epoch,
/// and resume from it under the same job key. The result is a "backbone" artifact.
/// </summary>
public sealed class TrainBackboneJob(ArtifactStore store, JobRunners runners, RequestBudget budget, torch.Device device)
{
    public Task RunAsync(TrainBackboneRequest request, IServerStreamWriter<JobEvent> output, CancellationToken ct)
    {
        Backbones.Family.Get(request.Architecture, "architecture");
        if (request.Epochs is < 1 or > 1000) throw new InvalidInputException("epochs", "must be in [1, 1000]");
        if (request.BatchSize is < 0 or > 4096) throw new InvalidInputException("batch_size", "must be in [0, 4096] (0: 64)");
        if (!double.IsFinite(request.LearningRate) || request.LearningRate < 0) throw new InvalidInputException("learning_rate", "must be finite and >= 0 (0: 1e-3)");
        if (request.Limit < 0) throw new InvalidInputException("limit", "must be >= 0");
        var datasetId = request.Dataset?.Id ?? "";
        var (reader, meta) = DatasetArtifacts.Open(store, datasetId, "dataset.id");
        var key = JobRunner.KeyFor(request.Job?.JobKey ?? "", "train-backbone", datasetId, request.Architecture, request.Epochs.ToString(),
            request.BatchSize.ToString(), request.LearningRate.ToString("R"), request.Seed.ToString(), request.Limit.ToString());
        return Guarded(reader, () => runners.For("embedding").RunAsync(key, ctx => Work(ctx, reader, meta, request), output, ct));
    }

    static async Task Guarded(ArtifactReader reader, Func<Task> run) { try { await run(); } finally { reader.Dispose(); } }

    async Task<JobOutcome> Work(JobContext ctx, ArtifactReader reader, DatasetMeta meta, TrainBackboneRequest request)
    {
        long n = reader.Entry("images").Rows;
        if (request.Limit > 0) n = Math.Min(n, request.Limit);
        using var images = reader.ReadRows("images", 0, n);
        using var labels = reader.ReadRows("labels", 0, n);
        int channels = (int)images.shape[1], height = (int)images.shape[2], width = (int)images.shape[3];
        int classes = Math.Max(meta.ClassNames.Count, budget.Classes("dataset.labels", labels));
        int batch = request.BatchSize == 0 ? 64 : request.BatchSize;
        double lr = request.LearningRate == 0 ? 1e-3 : request.LearningRate;

        using var model = TorchRandom.Initialize(Backbones.Create(request.Architecture, new BackboneShape(channels, height, width, classes)), request.Seed);
        model.to(device);
        using var optimizer = torch.optim.Adam(model.parameters(), lr);
        int startEpoch = 0;
        if (ctx.LoadCheckpoint() is { } ckpt)
        {
            // Weights, Adam's moments and the epoch: each epoch's order derives from (seed, epoch), so
            // the resumed run trains exactly as the uninterrupted one.
            if (ckpt.Tensors.TryGetValue(OptimizerCheckpoint.Key, out var opt))
            {
                using (torch.no_grad())
                    foreach (var (name, t) in model.state_dict()) t.copy_(ckpt.Tensors[name]);
                OptimizerCheckpoint.Restore(optimizer, opt);
                startEpoch = JsonSerializer.Deserialize<Dictionary<string, int>>(ckpt.StateJson)!["epoch"];
                ctx.Message($"resuming at epoch {startEpoch}");
            }
            else ctx.Message("the checkpoint has no optimizer state (written before checkpoints had one); training starts over",
                JobMessage.Types.Level.Warning);
            foreach (var t in ckpt.Tensors.Values) t.Dispose();
        }
        double loss = 0, accuracy = 0;
        for (int epoch = startEpoch; epoch < request.Epochs; epoch++)
        {
            model.train();
            var gen = new torch.Generator((ulong)(request.Seed * 1000 + epoch));
            using var order = torch.randperm(n, generator: gen);
            double sum = 0; long correct = 0;
            for (long s = 0; s < n; s += batch)
            {
                ctx.CancellationToken.ThrowIfCancellationRequested();
                using var scope = torch.NewDisposeScope();
                var idx = order.narrow(0, s, Math.Min(batch, n - s));
                var x = images.index_select(0, idx).to_type(torch.ScalarType.Float32).to(device) / 255f;
                var y = labels.index_select(0, idx).to(device);
                var logits = model.call(x);
                var l = torch.nn.functional.cross_entropy(logits, y);
                optimizer.zero_grad();
                l.backward();
                optimizer.step();
                sum += l.item<float>() * idx.shape[0];
                correct += logits.argmax(1).eq(y).sum().item<long>();
            }
            loss = sum / n; accuracy = (double)correct / n;
            if (epoch + 1 < request.Epochs)
            {
                var tensors = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.cpu());
                tensors[OptimizerCheckpoint.Key] = OptimizerCheckpoint.Save(optimizer);
                ctx.SaveCheckpoint(tensors, JsonSerializer.Serialize(new Dictionary<string, int> { ["epoch"] = epoch + 1 }));
                tensors[OptimizerCheckpoint.Key].Dispose();
            }
            ctx.Progress(epoch + 1, request.Epochs, "epochs", "train");
            ctx.Metrics(epoch + 1, new Dictionary<string, double> { ["loss"] = loss, ["train_accuracy"] = accuracy });
        }
        var bm = new BackboneMeta
        {
            Architecture = request.Architecture, Channels = channels, Height = height, Width = width, Classes = classes,
            ClassNames = meta.ClassNames, DatasetId = request.Dataset.Id, Epochs = request.Epochs, Seed = request.Seed,
        };
        var state = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.cpu());
        var info = await store.PutAsync(BackboneArtifacts.Kind, state, JsonSerializer.Serialize(bm),
            new Dictionary<string, string> { ["producer"] = "embedding", ["architecture"] = request.Architecture }, ctx.CancellationToken);
        return new JobOutcome(info, new Dictionary<string, double> { ["loss"] = loss, ["train_accuracy"] = accuracy });
    }
}
