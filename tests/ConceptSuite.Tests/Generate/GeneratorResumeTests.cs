using ConceptSuite.Core.Tensors;
using ConceptSuite.Generate.Data;
using ConceptSuite.Generate.Model;
using ConceptSuite.Generate.Text;
using ConceptSuite.Generate.Training;
using TorchSharp;

namespace ConceptSuite.Tests.Generate;

/// <summary>
/// Generator training stopped at a checkpoint and resumed from it in a new generator (its weights,
/// the trainer's state — AdamW's moments and the smoothed loss — and the step), as
/// <see cref="GeneratorTrainingJob"/> does after a crash, ends with exactly the weights and the loss
/// of the run that never stopped. The smoothed loss goes into the artifact's metadata, so it too
/// must match for the id to.
/// </summary>
public class GeneratorResumeTests
{
    const int Steps = 5, StopAt = 2;

    [Fact]
    public void TrainingResumedFromItsCheckpointEndsBitForBitWhereTheUninterruptedOneDoes()
    {
        // One OpenMP thread for bitwise sums; the pool thread gets its own count back for the tests after.
        int threads = torch.get_num_threads();
        torch.set_num_threads(1);
        try
        {
            using var data = ConceptImages.FromConceptShapes(64, 11, ConceptImages.ColourOnly(8));
            var vocab = new ConceptVocabulary(data.ConceptNames);
            var options = new TrainingOptions { Steps = Steps, BatchSize = 8, LearningRate = 4e-3, Seed = 5 };
            ConceptGenerator New()
            {
                var g = new ConceptGenerator(GeneratorConfig.Preset("tiny") with { ImageSize = 8 }, vocab);
                TorchRandom.Initialize(g.Model, 5);
                return g;
            }
            float[] Weights(ConceptGenerator g)
            {
                using var scope = torch.NewDisposeScope();
                return torch.cat(g.Model.parameters().Select(p => p.detach().flatten()).ToArray()).data<float>().ToArray();
            }

            // The uninterrupted run, checkpointing once after StopAt steps as the job does when its period is due.
            Dictionary<string, torch.Tensor>? weights = null, trainer = null;
            using var whole = New();
            var wholeLoss = GeneratorTrainer.Train(whole, data, options, checkpoints: new TrainerCheckpoints
            {
                Due = step => step == StopAt,
                Save = (step, state) =>
                {
                    // Called inside the step's dispose scope: the copies are taken out of it.
                    weights = whole.Model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone().DetachFromDisposeScope());
                    trainer = state.ToDictionary(kv => kv.Key, kv => kv.Value.clone().DetachFromDisposeScope());
                },
            });
            Assert.NotNull(weights);

            // A new process: the generator built anew and loaded from the checkpoint, trained from its step.
            using var resumed = New();
            resumed.Model.load_state_dict(weights!, strict: true);
            var resumedLoss = GeneratorTrainer.Train(resumed, data, options, StopAt,
                checkpoints: new TrainerCheckpoints { Resume = trainer, Due = _ => false, Save = (_, _) => { } });
            Assert.Equal(Weights(whole), Weights(resumed));
            Assert.Equal(wholeLoss, resumedLoss);

            // Resumed from the weights alone (the optimiser's moments restarting), it ends elsewhere.
            using var restarted = New();
            restarted.Model.load_state_dict(weights!, strict: true);
            GeneratorTrainer.Train(restarted, data, options, StopAt);
            Assert.NotEqual(Weights(whole), Weights(restarted));
        }
        finally { torch.set_num_threads(threads); }
    }
}
