using System.Text.Json;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Caching;
using ConceptSuite.Core.Hosting;
using ConceptSuite.Core.Jobs;
using ConceptSuite.Core.Streaming;
using ConceptSuite.Embedding.Data;
using ConceptSuite.Embedding.Images;
using ConceptSuite.Embedding.Inference;
using ConceptSuite.Embedding.Models;
using Grpc.Core;
using Microsoft.Extensions.Options;
using TorchSharp;

namespace ConceptSuite.Embedding.Jobs;

/// <summary>
/// EmbedDataset: reads a dataset artifact in chunks, runs them through the model's micro-batcher and
/// appends the taps' rows to an "activations" artifact (plus "labels"). Progress after each chunk;
/// a checkpoint holds the rows done so far, so a re-run with the same job key resumes after them.
/// </summary>
public sealed class EmbedDatasetJob(ModelRegistry registry, ArtifactStore store, JobRunners runners, IOptions<EmbeddingOptions> options)
{
    public Task RunAsync(EmbedDatasetRequest request, IServerStreamWriter<JobEvent> output, CancellationToken ct)
    {
        var datasetId = request.Dataset?.Id ?? "";
        var (reader, meta) = DatasetArtifacts.Open(store, datasetId, "dataset.id");
        LeasedLruCache<string, ModelRegistry.LoadedModel>.Lease? model = null;
        List<string> taps;
        try
        {
            // The model stays loaded (never evicted under the job) until the job ends.
            model = registry.Acquire(request.Model, "model");
            taps = model.Value.Backbone.Resolve(request.Taps, "taps");
            if (request.Limit < 0) throw new InvalidInputException("limit", "must be >= 0");
        }
        catch
        {
            model?.Dispose();
            reader.Dispose();
            throw;
        }
        var key = JobRunner.KeyFor(request.Job?.JobKey ?? "", "embed-dataset", datasetId, request.Model, string.Join(",", taps), request.Limit.ToString());
        var runner = runners.For("embedding");
        return RunGuarded(reader, model, () => runner.RunAsync(key, ctx => Work(ctx, reader, meta, request, model.Value.Backbone, model.Value.Batcher, taps), output, ct));
    }

    static async Task RunGuarded(ArtifactReader reader, IDisposable model, Func<Task> run)
    {
        try { await run(); }
        finally { reader.Dispose(); model.Dispose(); }
    }

    async Task<JobOutcome> Work(JobContext ctx, ArtifactReader reader, DatasetMeta meta, EmbedDatasetRequest request, IBackbone backbone, MicroBatcher batcher, List<string> taps)
    {
        long total = reader.Entry("images").Rows;
        if (request.Limit > 0) total = Math.Min(total, request.Limit);
        int chunk = Math.Max(1, options.Value.ChunkRows);
        var names = taps.Count == 1 ? new Dictionary<string, string> { [taps[0]] = "activations" } : taps.ToDictionary(t => t, t => t);

        // Rows done so far come back from the checkpoint as tensors of the finished prefix.
        var done = new Dictionary<string, List<torch.Tensor>>();
        long start = 0;
        if (ctx.LoadCheckpoint() is { } ckpt)
        {
            start = JsonSerializer.Deserialize<Dictionary<string, long>>(ckpt.StateJson)!["rows"];
            foreach (var t in taps) done[t] = [ckpt.Tensors[t].DetachFromDisposeScope()];
            ctx.Message($"resuming after {start} rows");
        }
        else foreach (var t in taps) done[t] = new();

        var lastSave = DateTime.UtcNow;
        int every = request.Job?.CheckpointSeconds > 0 ? request.Job.CheckpointSeconds : 30;
        for (long r = start; r < total; r += chunk)
        {
            ctx.CancellationToken.ThrowIfCancellationRequested();
            long n = Math.Min(chunk, total - r);
            var pixels = TensorScope.Keep(() =>
                ImageConform.ToModelInput(reader.ReadRows("images", r, n), backbone.Input.Channels, backbone.Input.Height, backbone.Input.Width, "dataset.id"));
            var outs = await batcher.RunAsync(pixels, taps, ctx.CancellationToken);
            foreach (var t in taps) done[t].Add(outs[t]);
            ctx.Progress(r + n, total, "rows", "embed");
            if ((DateTime.UtcNow - lastSave).TotalSeconds >= every && r + n < total)
            {
                foreach (var t in taps) { var c = torch.cat(done[t], 0).DetachFromDisposeScope(); foreach (var x in done[t]) x.Dispose(); done[t] = [c]; }
                ctx.SaveCheckpoint(taps.ToDictionary(t => t, t => done[t][0]), JsonSerializer.Serialize(new Dictionary<string, long> { ["rows"] = r + n }));
                lastSave = DateTime.UtcNow;
            }
        }

        using var w = store.BeginWrite("activations");
        w.MetadataJson = JsonSerializer.Serialize(new
        {
            model = backbone.Name, model_version = backbone.Version, taps, tensor_names = taps.Select(t => names[t]).ToList(),
            dataset_id = request.Dataset.Id, dataset = meta.Name, rows = total, class_names = meta.ClassNames,
        });
        w.Labels["producer"] = "embedding";
        w.Labels["model"] = backbone.Name;
        w.Labels["dataset_id"] = request.Dataset.Id;
        foreach (var t in taps)
        {
            foreach (var x in done[t]) { w.AddTensor(names[t], x); x.Dispose(); }
        }
        using (var scope = torch.NewDisposeScope()) w.AddTensor("labels", reader.ReadRows("labels", 0, total));
        var info = await w.CommitAsync(ctx.CancellationToken);
        return new JobOutcome(info, new Dictionary<string, double> { ["rows"] = total });
    }
}
