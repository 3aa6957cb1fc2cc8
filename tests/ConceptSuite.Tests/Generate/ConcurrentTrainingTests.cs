using ConceptSuite.Core.Tensors;
using ConceptSuite.Generate.Data;
using ConceptSuite.Generate.Model;
using ConceptSuite.Generate.Text;
using ConceptSuite.Generate.Training;
using TorchSharp;

namespace ConceptSuite.Tests.Generate;

/// <summary>
/// Two generators trained on two threads at once end with exactly the weights each gets trained
/// alone. With libtorch's oneDNN convolutions this failed: the first backward pass of one of them
/// gave NaN gradients in about half of the paired runs (<see cref="ConceptSuite.Core.Hosting.TorchRuntime"/>).
/// </summary>
public class ConcurrentTrainingTests
{
    const int Steps = 10;

    static float[] Train(ConceptImages data, ConceptVocabulary vocab, int seed)
    {
        torch.set_num_threads(1); // this thread's OpenMP team: the same in every run, so sums are bitwise equal
        using var g = new ConceptGenerator(GeneratorConfig.Preset("tiny") with { ImageSize = 8 }, vocab);
        TorchRandom.Initialize(g.Model, seed);
        GeneratorTrainer.Train(g, data, new TrainingOptions { Steps = Steps, BatchSize = 32, LearningRate = 4e-3, Seed = seed });
        using var scope = torch.NewDisposeScope();
        return torch.cat(g.Model.parameters().Select(p => p.detach().flatten()).ToArray()).data<float>().ToArray();
    }

    static float[][] OnThreads(ConceptImages data, ConceptVocabulary vocab, params int[] seeds)
    {
        var results = new float[seeds.Length][];
        var threads = seeds.Select((seed, i) => new Thread(() => results[i] = Train(data, vocab, seed))).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        return results;
    }

    [Fact]
    public void TwoGeneratorsTrainedAtOnceEndExactlyAsEachTrainedAlone()
    {
        using var data = ConceptImages.FromConceptShapes(256, 11, ConceptImages.ColourOnly(8));
        var vocab = new ConceptVocabulary(data.ConceptNames);
        var alone = new[] { OnThreads(data, vocab, 21)[0], OnThreads(data, vocab, 22)[0] };
        Assert.All(alone, w => Assert.All(w, v => Assert.True(float.IsFinite(v))));
        for (int round = 0; round < 3; round++)
        {
            var together = OnThreads(data, vocab, 21, 22);
            Assert.Equal(alone[0], together[0]);
            Assert.Equal(alone[1], together[1]);
        }
    }
}
