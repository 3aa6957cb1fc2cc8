using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Hosting;
using ConceptSuite.Core.Jobs;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Generate.Data;
using ConceptSuite.Generate.Editing;
using ConceptSuite.Generate.Evaluation;
using ConceptSuite.Generate.Images;
using ConceptSuite.Generate.Model;
using ConceptSuite.Generate.Text;
using ConceptSuite.Generate.Training;
using Grpc.Core;
using Microsoft.Extensions.Options;
using TorchSharp;
using static TorchSharp.torch;
using WireTensor = ConceptSuite.Contracts.Tensor;

namespace ConceptSuite.Generate.Service;

/// <summary>The generate stage's RPCs: validate, call the methods, stream results.</summary>
public sealed class GenerateGrpcService(ArtifactStore store, JobRunners runners, Device device, IOptions<GenerateOptions> options)
    : GenerateService.GenerateServiceBase
{
    readonly GenerateOptions _o = options.Value;
    JobRunner Runner => runners.For(GenerateStage.Name);

    // ---------------- TrainGenerator ----------------

    public override Task TrainGenerator(TrainGeneratorRequest request, IServerStreamWriter<JobEvent> responseStream, ServerCallContext context)
    {
        var plan = TrainingPlan.From(request, _o);
        var key = JobRunner.KeyFor(request.Job?.JobKey ?? "", "train-generator", request.ToString());
        int ckptSeconds = request.Job?.CheckpointSeconds > 0 ? request.Job.CheckpointSeconds : _o.CheckpointSeconds;
        return Runner.RunAsync(key, job => Task.Run(() => Train(job, plan, ckptSeconds)), responseStream, context.CancellationToken);
    }

    async Task<JobOutcome> Train(JobContext job, TrainingPlan plan, int ckptSeconds)
    {
        var sw = Stopwatch.StartNew();
        job.Progress(0, plan.Training.Steps, "steps", "data");
        using var data = plan.Data.Load(heldOut: false);
        var vocab = new ConceptVocabulary(data.ConceptNames);
        if (plan.TokenWords.Count > 0 && !plan.TokenWords.SequenceEqual(vocab.Concepts))
            throw new InvalidInputException("token_words", $"must be exactly the data's concepts in order: {string.Join(", ", vocab.Concepts)}");
        manual_seed(plan.Training.Seed);
        using var gen = new ConceptGenerator(plan.Config, vocab, device);
        if (plan.TokenEmbeddings is not null) gen.FreezeTokenEmbeddings(plan.TokenEmbeddings, plan.Training.Seed);
        int start = 0;
        if (job.LoadCheckpoint() is { } ckpt)
        {
            var state = ckpt.Tensors.Where(kv => kv.Key.StartsWith("unet.", StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key["unet.".Length..], kv => kv.Value.to(device));
            gen.Model.load_state_dict(state, strict: true);
            start = JsonNode.Parse(ckpt.StateJson)!["step"]!.GetValue<int>();
            job.Message($"resumed at step {start}");
        }
        var lastSave = Stopwatch.StartNew();
        double loss = GeneratorTrainer.Train(gen, data, plan.Training, start, (step, l) =>
        {
            if (step % 10 == 0 || step == plan.Training.Steps) job.Progress(step, plan.Training.Steps, "steps", "fit");
            if (step % 50 == 0) job.Metrics(step, new Dictionary<string, double> { ["loss"] = l });
            if (lastSave.Elapsed.TotalSeconds >= ckptSeconds && step < plan.Training.Steps)
            {
                var tensors = gen.Model.state_dict().ToDictionary(kv => "unet." + kv.Key, kv => kv.Value.detach().cpu());
                job.SaveCheckpoint(tensors, new JsonObject { ["step"] = step }.ToJsonString());
                lastSave.Restart();
            }
        }, job.CancellationToken);
        double trainSeconds = sw.Elapsed.TotalSeconds;
        job.Progress(plan.Training.Steps, plan.Training.Steps, "steps", "classifier");
        using var heldOut = plan.Data.Load(heldOut: true);
        manual_seed(plan.Training.Seed + 1);
        using var clf = new ConceptClassifier(vocab.Groups, plan.Config.ImageSize);
        clf.to(device);
        var acc = clf.Fit(data, heldOut, seed: plan.Training.Seed);
        var metrics = new Dictionary<string, double> { ["loss"] = loss, ["train_seconds"] = trainSeconds, ["steps"] = plan.Training.Steps };
        foreach (var (g, a) in acc) metrics[$"classifier_accuracy.{g}"] = a;
        var extra = new JsonObject
        {
            ["metrics"] = JsonSerializer.SerializeToNode(metrics),
            ["training"] = JsonSerializer.SerializeToNode(plan.Training),
            ["data"] = new JsonObject { ["source"] = plan.Data.Source, ["samples"] = plan.Data.Samples, ["seed"] = plan.Data.Seed },
        };
        var info = await GeneratorArtifact.SaveAsync(store, gen, clf, extra, job.CancellationToken);
        return new JobOutcome(info, metrics);
    }

    /// <summary>The training set of a TrainGenerator request; the classifier's held-out set comes from the same source.</summary>
    sealed record DataPlan(string Source, int Samples, int Seed, int ImageSize, Core.Data.ConceptShapesOptions Shapes)
    {
        /// <summary>Concept-shapes: seed (training) or seed + 1 (held out); Fashion-MNIST: the train or test split.</summary>
        public ConceptImages Load(bool heldOut)
        {
            int n = heldOut ? Math.Max(500, Samples / 4) : Samples;
            return Source == "fashion-mnist" ? ConceptImages.FromFashionMnist(heldOut ? "test" : "train", Math.Min(n, heldOut ? 10000 : 60000), ImageSize)
                : ConceptImages.FromConceptShapes(n, heldOut ? Seed + 1 : Seed, Shapes);
        }

        public static DataPlan From(ShapeDataSpec d, int imageSize)
        {
            var source = d.Source == "" ? "concept-shapes" : d.Source;
            if (source is not ("concept-shapes" or "fashion-mnist")) throw new InvalidInputException("data.source", "must be 'concept-shapes' or 'fashion-mnist'");
            var subsets = new Dictionary<string, IReadOnlyList<string>>();
            foreach (var (factor, values) in new[] { ("colour", d.Colours), ("shape", d.Shapes), ("size", d.Sizes), ("texture", d.Textures), ("background", d.Backgrounds), ("position", d.Positions) })
            {
                if (values.Count == 0) continue;
                if (source == "fashion-mnist") throw new InvalidInputException("data.source", "factor subsets apply to concept-shapes only");
                if (values.Distinct().Count() != values.Count) throw new InvalidInputException($"data.{factor}s", "has duplicates");
                var known = Core.Data.ConceptShapes.ValuesOf(factor);
                foreach (var v in values) if (!known.Contains(v)) throw new InvalidInputException($"data.{factor}s", $"unknown {factor} '{v}'; known: {string.Join(", ", known)}");
                subsets[factor] = values.ToArray();
            }
            var shapes = new Core.Data.ConceptShapesOptions { Size = imageSize, Subsets = subsets };
            if (source == "concept-shapes" && Core.Data.ConceptShapes.DrawnValues(shapes).All(v => v.Length < 2))
                throw new InvalidInputException("data", "at least one factor must vary");
            return new DataPlan(source, d.Samples == 0 ? 4000 : d.Samples, d.Seed, imageSize, shapes);
        }

        /// <summary>Number of concept words the data will have (checked against token_embeddings before loading).</summary>
        public int ConceptCount => Source == "fashion-mnist" ? Core.Data.FashionMnist.ClassNames.Count
            : Core.Data.ConceptShapes.DrawnValues(Shapes).Where(v => v.Length > 1).Sum(v => v.Length);
    }

    sealed record TrainingPlan(GeneratorConfig Config, TrainingOptions Training, DataPlan Data, torch.Tensor? TokenEmbeddings, IReadOnlyList<string> TokenWords)
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

    // ---------------- Generate ----------------

    public override async Task Generate(GenerateRequest request, IServerStreamWriter<GeneratedImage> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        if (request.Prompts.Count == 0 || request.Prompts.Count > _o.MaxPrompts) throw new InvalidInputException("prompts", $"give 1 to {_o.MaxPrompts} prompts");
        if (request.Seeds.Count != 0 && request.Seeds.Count != request.Prompts.Count) throw new InvalidInputException("seeds", "give none or one per prompt");
        var (steps, guidance) = Sampling(request.Steps, request.Guidance);
        using var loaded = GeneratorArtifact.Load(store, request.GeneratorId, device);
        loaded.Generator.Tokenize(request.Prompts.ToList()); // validates every prompt before sampling
        var seeds = request.Seeds.Count > 0 ? request.Seeds.ToList() : Enumerable.Range(0, request.Prompts.Count).Select(i => (long)i).ToList();
        const int chunk = 32;
        for (int i = 0; i < request.Prompts.Count; i += chunk)
        {
            ct.ThrowIfCancellationRequested();
            int n = Math.Min(chunk, request.Prompts.Count - i);
            var prompts = request.Prompts.Skip(i).Take(n).ToList();
            // Messages own copies of their bytes: the scope closes before the writes' awaits (scopes are per thread).
            var messages = new List<GeneratedImage>(n);
            using (NewDisposeScope())
            {
                var images = loaded.Generator.Generate(prompts, seeds.Skip(i).Take(n).ToList(), steps, guidance, (_, _) => ct.ThrowIfCancellationRequested());
                for (int j = 0; j < n; j++) messages.Add(ImageMessage(i + j, prompts[j], seeds[i + j], images[j], request.IncludeTensors));
            }
            foreach (var m in messages) await responseStream.WriteAsync(m, ct);
        }
    }

    (int Steps, double Guidance) Sampling(int steps, double guidance, string stepsField = "steps", string guidanceField = "guidance")
    {
        int s = steps == 0 ? _o.DefaultSteps : steps;
        double g = guidance == 0 ? _o.DefaultGuidance : guidance;
        ConceptGenerator.ValidateSampling(s, g, stepsField, guidanceField);
        return (s, g);
    }

    static GeneratedImage ImageMessage(int index, string prompt, long seed, torch.Tensor image, bool includeTensor)
    {
        var m = new GeneratedImage { Index = index, Prompt = prompt, Seed = seed, Png = Google.Protobuf.ByteString.CopyFrom(PngImages.Encode(image)) };
        if (includeTensor)
        {
            using var unit = ((image.unsqueeze(0).clamp(-1, 1) + 1) / 2).contiguous();
            m.Image = TensorStreams.Split(unit, "", null, int.MaxValue).Single();
            m.Image.Tensor = TensorCodec.ToMessageCopy(unit); // the message outlives `unit`: its own copy of the bytes
        }
        return m;
    }

    // ---------------- Erase ----------------

    public override Task Erase(EraseRequest request, IServerStreamWriter<JobEvent> responseStream, ServerCallContext context)
    {
        var spec = new EraseSpec
        {
            Concepts = request.Concepts.ToList(),
            Targets = request.Targets.ToList(),
            Preserve = request.Preserve.ToList(),
            Lambda = request.Lambda == 0 ? 0.1 : request.Lambda,
            EraseScale = request.EraseScale == 0 ? 1 : request.EraseScale,
            PreserveScale = request.PreserveScale == 0 ? 1 : request.PreserveScale,
            NeighbourSamples = request.NeighbourSamples == 0 ? 16 : Math.Max(0, request.NeighbourSamples),
            NeighbourRadius = request.NeighbourRadius == 0 ? 0.3 : request.NeighbourRadius,
            BeyondSamples = request.BeyondSamples == 0 ? 16 : Math.Max(0, request.BeyondSamples),
            AssociationThreshold = request.AssociationThreshold == 0 ? 0.9 : request.AssociationThreshold,
            NeighbourWeight = request.NeighbourWeight == 0 ? 1 : Math.Max(0, request.NeighbourWeight),
            BeyondWeight = request.BeyondWeight == 0 ? 1 : Math.Max(0, request.BeyondWeight),
            Seed = request.Seed,
        };
        var method = ConceptErasers.Get(request.Method);
        int samples = request.ReportSamples == 0 ? 32 : request.ReportSamples;
        if (samples is < 1 or > 256) throw new InvalidInputException("report_samples", "must be in [1, 256]");
        var (steps, guidance) = Sampling(request.ReportSteps == 0 ? 25 : request.ReportSteps, request.ReportGuidance, "report_steps", "report_guidance");
        using (var probe = GeneratorArtifact.Load(store, request.GeneratorId, device)) ConceptErasers.Validate(probe.Generator, spec);
        var key = JobRunner.KeyFor(request.Job?.JobKey ?? "", "erase", request.ToString());
        return Runner.RunAsync(key, job => Task.Run(async () =>
        {
            job.Progress(0, 3, "phases", "edit");
            using var original = GeneratorArtifact.Load(store, request.GeneratorId, device);
            using var edited = GeneratorArtifact.Load(store, request.GeneratorId, device);
            var plan = method.Plan(edited.Generator, spec);
            ConceptErasers.Apply(edited.Generator, plan, spec);
            job.Progress(1, 3, "phases", "report");
            var report = EraseReport.Measure(original.Generator, edited.Generator, original.Classifier, plan, spec.Concepts, samples, steps, guidance, request.Seed, job.CancellationToken);
            var metrics = report.Metrics();
            foreach (var c in report.MinedConcepts) job.Message($"mined associated concept '{c}' and erased it too");
            job.Progress(2, 3, "phases", "save");
            var extra = new JsonObject
            {
                ["parent"] = request.GeneratorId,
                ["edit"] = new JsonObject
                {
                    ["method"] = method.Name,
                    ["concepts"] = JsonSerializer.SerializeToNode(spec.Concepts),
                    ["targets"] = JsonSerializer.SerializeToNode(spec.Targets),
                    ["preserve"] = JsonSerializer.SerializeToNode(plan.PreservedConcepts),
                    ["mined"] = JsonSerializer.SerializeToNode(plan.MinedConcepts),
                    ["lambda"] = spec.Lambda,
                    ["neighbour_keys"] = plan.NeighbourKeys,
                    ["beyond_keys"] = plan.BeyondKeys,
                },
                ["report"] = JsonSerializer.SerializeToNode(metrics),
            };
            foreach (var k in new[] { "config", "training", "data", "metrics" })
                if (original.Metadata[k] is { } v && k != "metrics") extra[k] = v.DeepClone();
            var info = await GeneratorArtifact.SaveAsync(store, edited.Generator, original.Classifier, extra, job.CancellationToken);
            job.Progress(3, 3, "phases", "done");
            return new JobOutcome(info, metrics);
        }), responseStream, context.CancellationToken);
    }

    // ---------------- Compose ----------------

    public override Task<ComposeResponse> Compose(ComposeRequest request, ServerCallContext context)
    {
        int samples = request.Samples == 0 ? 4 : request.Samples;
        if (samples is < 1 or > 64) throw new InvalidInputException("samples", "must be in [1, 64]");
        var (steps, guidance) = Sampling(request.Steps, request.Guidance);
        if (request.Regions.Count is 0 or > MaskedComposition.MaxRegions) throw new InvalidInputException("regions", $"give 1 to {MaskedComposition.MaxRegions} regions");
        using var loaded = GeneratorArtifact.Load(store, request.GeneratorId, device);
        using var scope = NewDisposeScope();
        var regions = request.Regions.Select((r, i) => new Region(r.Prompt, Mask(r.Mask, $"regions[{i}].mask"))).ToList();
        var seeds = Enumerable.Range(0, samples).Select(i => request.Seed + i).ToList();
        var result = MaskedComposition.Compose(loaded.Generator, loaded.Classifier, regions, request.BackgroundPrompt, seeds, steps, guidance);
        var response = new ComposeResponse { LayoutScore = result.LayoutScore };
        for (int i = 0; i < samples; i++)
            response.Images.Add(ImageMessage(i, string.Join(" | ", regions.Select(r => r.Prompt)), seeds[i], result.Images[i], false));
        foreach (var c in result.Checks) response.Checks.Add(new RegionCheck { Region = c.Region, Group = c.Group, Requested = c.Requested, Rate = c.Rate });
        return Task.FromResult(response);
    }

    static torch.Tensor Mask(WireTensor? t, string field)
    {
        if (t is null || t.Shape.Count == 0) throw new InvalidInputException(field, "is required");
        if (t.Dtype is not (DType.Uint8 or DType.Bool)) throw new InvalidInputException(field, "must be uint8 or bool");
        var m = TensorCodec.ToTorch(t, field);
        return m.ne(0);
    }

    // ---------------- ExtractConcepts ----------------

    public override Task<ExtractConceptsResponse> ExtractConcepts(ExtractConceptsRequest request, ServerCallContext context)
    {
        var (steps, guidance) = Sampling(request.Steps, request.Guidance);
        if (request.Image is null || request.Image.Shape.Count == 0) throw new InvalidInputException("image", "is required");
        using var loaded = GeneratorArtifact.Load(store, request.GeneratorId, device);
        using var scope = NewDisposeScope();
        var img = TensorCodec.ToTorch(request.Image, "image");
        if (img.dim() == 3) img = img.unsqueeze(0);
        img = request.Image.Dtype switch
        {
            DType.Uint8 => img.to_type(ScalarType.Float32) / 127.5 - 1,
            DType.Float32 => img * 2 - 1,
            _ => throw new InvalidInputException("image", "must be uint8 (0-255) or float32 in [0,1]"),
        };
        var found = ConceptExtraction.Extract(loaded.Generator, loaded.Classifier, img,
            request.NumConcepts == 0 ? 2 : request.NumConcepts, request.TokenSteps == 0 ? 150 : request.TokenSteps,
            request.Samples == 0 ? 4 : request.Samples, request.Seed, steps, guidance, context.CancellationToken);
        var response = new ExtractConceptsResponse();
        foreach (var f in found)
        {
            var e = new ExtractedConcept
            {
                Mask = TensorCodec.ToMessageCopy(f.Mask.to_type(ScalarType.Byte)),
                Token = TensorCodec.ToMessageCopy(f.Token.to_type(ScalarType.Float32)),
                NearestConcept = f.NearestConcept,
                NearestCosine = f.NearestCosine,
                FinalLoss = f.FinalLoss,
            };
            for (int i = 0; i < f.Regenerations.shape[0]; i++) e.Regenerations.Add(ImageMessage(i, "<extracted>", i, f.Regenerations[i], false));
            foreach (var (k, v) in f.RegeneratedConcepts) e.RegeneratedConcepts[k] = v;
            foreach (var (k, v) in f.SourceConcepts) e.SourceConcepts[k] = v;
            response.Concepts.Add(e);
        }
        return Task.FromResult(response);
    }

    // ---------------- Steer ----------------

    public override Task<SteerResponse> Steer(SteerRequest request, ServerCallContext context)
    {
        var (steps, guidance) = Sampling(request.Steps, request.Guidance);
        if (string.IsNullOrEmpty(request.Concept)) throw new InvalidInputException("concept", "is required");
        using var loaded = GeneratorArtifact.Load(store, request.GeneratorId, device);
        using var scope = NewDisposeScope();
        var direction = request.Direction is { Shape.Count: > 0 } d ? TensorCodec.ToTorch(d, "direction") : null;
        if (direction is not null && direction.dtype != ScalarType.Float32) throw new InvalidInputException("direction", "must be float32");
        var prompts = request.Prompts.ToList();
        for (int i = 0; i < prompts.Count; i++) loaded.Generator.Vocabulary.Words(prompts[i], $"prompts[{i}]");
        var r = ConceptSteering.Steer(loaded.Generator, loaded.Classifier, prompts, request.Concept, direction,
            request.Strength == 0 ? 1.0 : request.Strength, request.Samples == 0 ? 8 : request.Samples, request.Seed, steps, guidance);
        var response = new SteerResponse { ScoreBefore = r.ScoreBefore, ScoreAfter = r.ScoreAfter, RateBefore = r.RateBefore, RateAfter = r.RateAfter };
        if (request.IncludeImages)
            for (int i = 0; i < r.ImagesAfter.shape[0]; i++) response.Images.Add(ImageMessage(i, "steered", request.Seed + i, r.ImagesAfter[i], false));
        return Task.FromResult(response);
    }

    // ---------------- Evaluate ----------------

    public override Task<EvaluateResponse> Evaluate(EvaluateRequest request, ServerCallContext context)
    {
        var (steps, guidance) = Sampling(request.Steps, request.Guidance);
        int samples = request.SamplesPerPrompt == 0 ? 16 : request.SamplesPerPrompt;
        using var loaded = GeneratorArtifact.Load(store, request.GeneratorId, device);
        using var judgeSource = string.IsNullOrEmpty(request.ClassifierGeneratorId) ? null
            : GeneratorArtifact.Load(store, request.ClassifierGeneratorId, device, "classifier_generator_id");
        var judge = (judgeSource ?? loaded).Classifier;
        var prompts = request.Prompts.Count > 0 ? request.Prompts.ToList()
            : judge.Groups.Where(g => g.Group != "shape").SelectMany(g => g.Concepts).Where(loaded.Generator.Vocabulary.Contains)
                .SelectMany(c => ConceptRates.PromptsFor(loaded.Generator.Vocabulary, c)).ToList();
        if (prompts.Count == 0 && judge.Groups.Any(g => g.Group == "shape"))
            prompts = judge.Groups.First(g => g.Group == "shape").Concepts.Select(s => ConceptVocabulary.BuildPrompt([s])).ToList();
        var report = ConceptRates.Evaluate(loaded.Generator, judge, prompts, samples, steps, guidance, request.Seed, context.CancellationToken);
        var response = new EvaluateResponse { MeanRate = report.Concepts.Count == 0 ? 0 : report.Concepts.Average(c => c.Rate) };
        foreach (var c in report.Concepts)
            response.Concepts.Add(new ConceptRateReport { Concept = c.Concept, Group = c.Group, Rate = c.Rate, Chance = c.Chance, Samples = c.Samples });
        foreach (var p in report.Prompts)
        {
            var m = new PromptRateReport { Prompt = p.Prompt };
            foreach (var (k, v) in p.Rates) m.Rates[k] = v;
            response.Prompts.Add(m);
        }
        return Task.FromResult(response);
    }
}
