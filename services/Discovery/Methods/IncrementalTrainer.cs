using ConceptSuite.Discovery.Abstractions;

namespace ConceptSuite.Discovery.Methods;

/// <summary>
/// Trains several incremental dictionaries on one pass over the data per epoch: every block
/// read (shuffled anew each epoch) is cut into batches that step all of them.
/// </summary>
public static class IncrementalTrainer
{
    /// <param name="checkpoint">Called after each epoch with the epoch just completed (resume skips epochs).</param>
    /// <param name="startEpoch">First epoch to run (after a restored checkpoint).</param>
    public static void Train(IReadOnlyList<IIncrementalDictionary> models, IRowSource data, FitContext ctx,
        Action<int>? checkpoint = null, int startEpoch = 0, bool begin = true)
    {
        if (models.Count == 0) return;
        if (begin) foreach (var m in models) m.Begin(data, ctx);
        int epochs = models.Max(m => m.Epochs);
        int batch = models[0].BatchSize;
        long stepsPerEpoch = (data.Samples + batch - 1) / batch;
        int readRows = Math.Max(batch, (16384 / batch) * batch);
        for (int epoch = startEpoch; epoch < epochs; epoch++)
        {
            long step = 0;
            var losses = new double[models.Count];
            foreach (var block in data.Blocks(readRows, ctx.Seed * 1_000_003L + epoch + 1))
            {
                using var _ = block;
                for (long r = 0; r < block.shape[0]; r += batch)
                {
                    ctx.CancellationToken.ThrowIfCancellationRequested();
                    using var b = block.narrow(0, r, Math.Min(batch, block.shape[0] - r));
                    for (int i = 0; i < models.Count; i++)
                        if (epoch < models[i].Epochs) losses[i] = models[i].Step(b);
                    step++;
                }
                ctx.Progress?.Invoke(epoch * stepsPerEpoch + step, epochs * stepsPerEpoch, "steps", "train");
            }
            var m = new Dictionary<string, double>();
            for (int i = 0; i < models.Count; i++) m[models.Count == 1 ? "loss" : $"loss_{i}"] = losses[i];
            ctx.Metrics?.Invoke(epoch + 1, m);
            checkpoint?.Invoke(epoch);
        }
        foreach (var mdl in models) mdl.End();
    }
}
