using ConceptSuite.Generate.Data;
using ConceptSuite.Generate.Editing;
using ConceptSuite.Generate.Evaluation;
using ConceptSuite.Generate.Model;
using ConceptSuite.Generate.Text;
using ConceptSuite.Generate.Training;
using TorchSharp;

namespace ConceptSuite.Tests.Generate;

/// <summary>
/// A tiny generator trained inside the test (8×8 colour-only concept shapes: four colours, large
/// squares on plain grey; 16-channel UNet; TrainingSteps steps of 32) and its concept classifier.
/// </summary>
public sealed class TinyColourGenerator : IDisposable
{
    public const int TrainingSteps = 300;
    public const int SamplesPerPrompt = 32;
    public const int SamplingSteps = 10;
    public const double Guidance = 3.0;

    public ConceptGenerator Generator { get; }
    public ConceptClassifier Classifier { get; }
    public Dictionary<string, double> ClassifierAccuracy { get; }

    public TinyColourGenerator()
    {
        // One intra-op thread: on a shared two-core machine two OpenMP threads spend most of their
        // time in barriers (measured 3 s vs 0.17 s per training step here).
        torch.set_num_threads(1);
        var scenes = new ShapeSceneOptions { ImageSize = 8, Shapes = ["square"], Sizes = ["large"], Backgrounds = ["plain"] };
        using var data = ShapeScenes.Generate(512, 11, scenes);
        using var heldOut = ShapeScenes.Generate(256, 12, scenes);
        var vocab = new ConceptVocabulary(data.ConceptNames);
        torch.manual_seed(5);
        Classifier = new ConceptClassifier(vocab.Groups, 8);
        ClassifierAccuracy = Classifier.Fit(data, heldOut, epochs: 2, seed: 5);
        torch.manual_seed(3);
        Generator = new ConceptGenerator(GeneratorConfig.Preset("tiny") with { ImageSize = 8 }, vocab);
        GeneratorTrainer.Train(Generator, data, new TrainingOptions { Steps = TrainingSteps, BatchSize = 32, LearningRate = 4e-3, Seed = 3 });
    }

    public void Dispose() { Generator.Dispose(); Classifier.Dispose(); }
}

public class GeneratorQualityTests(TinyColourGenerator tiny, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<TinyColourGenerator>
{
    static readonly string[] Colours = ["red", "green", "blue", "yellow"];

    List<string> Prompts() => Colours.Select(c => ConceptVocabulary.BuildPrompt([c, "square"])).ToList();

    [Fact]
    public void TheConceptClassifierReadsColourFromRealImages() =>
        Assert.True(tiny.ClassifierAccuracy["colour"] > 0.95, $"held-out colour accuracy {tiny.ClassifierAccuracy["colour"]:F3}");

    [Fact]
    public void TheTrainedGeneratorProducesTheRequestedColourWellAboveChance()
    {
        var report = ConceptRates.Evaluate(tiny.Generator, tiny.Classifier, Prompts(), TinyColourGenerator.SamplesPerPrompt,
            TinyColourGenerator.SamplingSteps, TinyColourGenerator.Guidance, seed: 100);
        var mean = report.Concepts.Average(c => c.Rate);
        output.WriteLine($"mean colour rate {mean:F3}; per colour {string.Join(", ", report.Concepts.Select(c => $"{c.Concept} {c.Rate:F3}"))}");
        // Chance is 0.25. Measured: mean 0.828 (red 0.781, green 0.906, blue 0.969, yellow 0.656); floor 0.6.
        Assert.True(mean >= 0.6, $"mean colour rate {mean:F3}; per colour {string.Join(", ", report.Concepts.Select(c => $"{c.Concept} {c.Rate:F3}"))}");
    }

    [Fact]
    public void ErasingRedDropsItsRateNearChanceWhileOtherColoursStay()
    {
        var spec = new EraseSpec { Concepts = ["red"], Seed = 1 };
        using var edited = new ConceptGenerator(tiny.Generator.Config, tiny.Generator.Vocabulary);
        edited.Model.load_state_dict(tiny.Generator.Model.state_dict());
        var plan = ConceptErasers.Get("realera").Plan(edited, spec);
        ConceptErasers.Apply(edited, plan, spec);
        var report = EraseReport.Measure(tiny.Generator, edited, tiny.Classifier, plan, spec.Concepts,
            TinyColourGenerator.SamplesPerPrompt, TinyColourGenerator.SamplingSteps, TinyColourGenerator.Guidance, seed: 200);
        var red = report.Erased.Single();
        var detail = $"red {red.RateBefore:F3} -> {red.RateAfter:F3}; " + string.Join(", ", report.Preserved.Select(c => $"{c.Concept} {c.RateBefore:F3} -> {c.RateAfter:F3}"));
        output.WriteLine(detail + $"; max drift {report.MaxPreserveDrift:F3}");
        // Measured: red 0.688 -> 0.500 (chance 0.25); green 0.906 -> 0.906, blue 1.000 -> 1.000,
        // yellow 0.625 -> 0.594 (max drift 0.031); in a full-suite run with other tests sharing the
        // process: red 0.594 -> 0.438, yellow 0.844 -> 0.781 (max drift 0.062). Rates are over 32
        // generations per colour, so one generation moves a rate by 0.031. Bounds: red after <= 0.65
        // and down by >= 0.1; drift <= 0.1 (three generations).
        Assert.True(red.RateAfter <= 0.65, detail);
        Assert.True(red.RateBefore - red.RateAfter >= 0.1, detail);
        Assert.True(report.MaxPreserveDrift <= 0.1, detail);
    }
}
