using ConceptSuite.Contracts;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Generate.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Generate.Training;

/// <summary>A validated TrainGenerator request: the model's configuration, the optimisation, the data and the optional frozen token table.</summary>
public sealed record TrainingPlan(GeneratorConfig Config, TrainingOptions Training, DataPlan Data, torch.Tensor? TokenEmbeddings, IReadOnlyList<string> TokenWords)
{
    public static TrainingPlan From(TrainGeneratorRequest r, GenerateOptions o)
    {
        var config = GeneratorConfig.Preset(r.Preset);
        if (r.ImageSize < 0) throw new InvalidInputException("image_size", "must be >= 0");
        if (r.BaseChannels < 0) throw new InvalidInputException("base_channels", "must be >= 0");
        if (r.ImageSize > 0) config = config with { ImageSize = r.ImageSize };
        if (r.BaseChannels > 0) config = config with { BaseChannels = r.BaseChannels };
        torch.Tensor? emb = null;
        if (r.TokenEmbeddings is { } te && te.Shape.Count > 0)
        {
            if (te.Shape.Count != 2) throw new InvalidInputException("token_embeddings", "must be [V, D]");
            if (r.TokenWords.Count != te.Shape[0]) throw new InvalidInputException("token_words", $"must name the {te.Shape[0]} rows of token_embeddings");
            config = config with { TextDim = checked((int)te.Shape[1]) };
            emb = TensorCodec.ToTorch(te, "token_embeddings").to_type(ScalarType.Float32);
            if (!emb.isfinite().all().item<bool>()) throw new InvalidInputException("token_embeddings", "must be finite");
        }
        else if (r.TokenWords.Count > 0) throw new InvalidInputException("token_words", "given without token_embeddings");
        config.Validate("config");
        var data = DataPlan.From(r.Data ?? new ShapeDataSpec(), config.ImageSize);
        var conceptCount = data.ConceptCount;
        int samples = data.Samples;
        if (samples < 16 || samples > o.MaxTrainingSamples) throw new InvalidInputException("data.samples", $"must be in [16, {o.MaxTrainingSamples}]");
        var training = new TrainingOptions
        {
            Steps = r.Steps == 0 ? 3000 : r.Steps,
            BatchSize = r.BatchSize == 0 ? 64 : r.BatchSize,
            LearningRate = r.LearningRate == 0 ? 2e-3 : r.LearningRate,
            ConditionDropout = r.ConditionDropout == 0 ? 0.1 : Math.Max(0, r.ConditionDropout),
            TokenDropout = r.TokenDropout == 0 ? 0.2 : Math.Max(0, r.TokenDropout),
            Seed = r.Seed,
        };
        training.Validate("training");
        if (emb is not null && emb.shape[0] != conceptCount)
            throw new InvalidInputException("token_embeddings", $"has {emb.shape[0]} rows; the data has {conceptCount} concepts");
        return new TrainingPlan(config, training, data, emb, r.TokenWords.ToList());
    }
}
