using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Jobs;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Generate.Evaluation;
using ConceptSuite.Generate.Model;
using ConceptSuite.Generate.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Generate.Training;

/// <summary>
/// The TrainGenerator job: trains the generator (resuming from the job's checkpoint, saving one
/// every <c>ckptSeconds</c>), then its concept classifier on a held-out set, and stores both as a
/// "generator" artifact.
/// </summary>
public static class GeneratorTrainingJob
{
    public static async Task<JobOutcome> RunAsync(JobContext job, TrainingPlan plan, int ckptSeconds, ArtifactStore store, Device device)
    {
        var sw = Stopwatch.StartNew();
        job.Progress(0, plan.Training.Steps, "steps", "data");
        using var data = plan.Data.Load(heldOut: false);
        var vocab = new ConceptVocabulary(data.ConceptNames);
        if (plan.TokenWords.Count > 0 && !plan.TokenWords.SequenceEqual(vocab.Concepts))
            throw new InvalidInputException("token_words", $"must be exactly the data's concepts in order: {string.Join(", ", vocab.Concepts)}");
        using var gen = new ConceptGenerator(plan.Config, vocab, device);
        TorchRandom.Initialize(gen.Model, plan.Training.Seed);
        if (plan.TokenEmbeddings is not null) gen.FreezeTokenEmbeddings(plan.TokenEmbeddings, plan.Training.Seed);
        int start = 0;
        Dictionary<string, torch.Tensor>? trainer = null;
        if (job.LoadCheckpoint() is { } ckpt)
        {
            if (ckpt.Tensors.ContainsKey("trainer." + OptimizerCheckpoint.Key))
            {
                var state = ckpt.Tensors.Where(kv => kv.Key.StartsWith("unet.", StringComparison.Ordinal))
                    .ToDictionary(kv => kv.Key["unet.".Length..], kv => kv.Value.to(device));
                gen.Model.load_state_dict(state, strict: true);
                trainer = ckpt.Tensors.Where(kv => kv.Key.StartsWith("trainer.", StringComparison.Ordinal))
                    .ToDictionary(kv => kv.Key["trainer.".Length..], kv => kv.Value);
                start = JsonNode.Parse(ckpt.StateJson)!["step"]!.GetValue<int>();
                job.Message($"resumed at step {start}");
            }
            else job.Message("the checkpoint has no optimizer state (written before checkpoints had one); training starts over",
                JobMessage.Types.Level.Warning);
        }
        var lastSave = Stopwatch.StartNew();
        var checkpoints = new TrainerCheckpoints
        {
            Resume = trainer,
            Due = _ => lastSave.Elapsed.TotalSeconds >= ckptSeconds,
            Save = (step, state) =>
            {
                // The weights, the optimiser's moments and the smoothed loss, at the step they were taken.
                var tensors = gen.Model.state_dict().ToDictionary(kv => "unet." + kv.Key, kv => kv.Value.detach().cpu());
                foreach (var (k, v) in state) tensors["trainer." + k] = v;
                job.SaveCheckpoint(tensors, new JsonObject { ["step"] = step }.ToJsonString());
                foreach (var v in state.Values) v.Dispose();
                lastSave.Restart();
            },
        };
        double loss = GeneratorTrainer.Train(gen, data, plan.Training, start, (step, l) =>
        {
            if (step % 10 == 0 || step == plan.Training.Steps) job.Progress(step, plan.Training.Steps, "steps", "fit");
            if (step % 50 == 0) job.Metrics(step, new Dictionary<string, double> { ["loss"] = l });
        }, job.CancellationToken, checkpoints);
        double trainSeconds = sw.Elapsed.TotalSeconds;
        job.Progress(plan.Training.Steps, plan.Training.Steps, "steps", "classifier");
        using var heldOut = plan.Data.Load(heldOut: true);
        using var clf = TorchRandom.Initialize(new ConceptClassifier(vocab.Groups, plan.Config.ImageSize), plan.Training.Seed + 1);
        clf.to(device);
        var acc = clf.Fit(data, heldOut, seed: plan.Training.Seed);
        var metrics = new Dictionary<string, double> { ["loss"] = loss, ["steps"] = plan.Training.Steps };
        foreach (var (g, a) in acc) metrics[$"classifier_accuracy.{g}"] = a;
        var extra = new JsonObject
        {
            ["metrics"] = JsonSerializer.SerializeToNode(metrics),
            ["training"] = JsonSerializer.SerializeToNode(plan.Training),
            ["data"] = new JsonObject { ["source"] = plan.Data.Source, ["samples"] = plan.Data.Samples, ["seed"] = plan.Data.Seed },
        };
        // Wall time varies between runs of the same training: the unhashed run record holds it.
        var run = new JsonObject { ["train_seconds"] = trainSeconds, ["resumed"] = job.Resumed }.ToJsonString();
        var info = await GeneratorArtifact.SaveAsync(store, gen, clf, extra, job.CancellationToken, run);
        return new JobOutcome(info, metrics);
    }
}
