using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Hosting;
using ConceptSuite.Core.Jobs;
using ConceptSuite.Core.Methods;
using ConceptSuite.Core.Streaming;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Generate.Editing;
using ConceptSuite.Generate.Evaluation;
using ConceptSuite.Generate.Images;
using ConceptSuite.Generate.Model;
using ConceptSuite.Generate.Training;
using Grpc.Core;
using Microsoft.Extensions.Options;
using TorchSharp;
using static TorchSharp.torch;
using WireTensor = ConceptSuite.Contracts.Tensor;

namespace ConceptSuite.Generate;

/// <summary>The generate stage's RPCs: validate, call the methods and jobs, stream results.</summary>
public sealed class GenerateGrpcService(ArtifactStore store, JobRunners runners, Device device, MethodCatalog catalog, IOptions<GenerateOptions> options)
    : GenerateService.GenerateServiceBase
{
    readonly GenerateOptions _o = options.Value;
    JobRunner Runner => runners.For(GenerateStage.Name);

    public override Task<ListMethodsResponse> ListMethods(ListMethodsRequest request, ServerCallContext context) =>
        Task.FromResult(catalog.List(GenerateStage.Name, request));

    /// <summary>The generator a request references (INVALID_ARGUMENT or NOT_FOUND naming <paramref name="field"/>).</summary>
    GeneratorArtifact.Loaded Load(ArtifactRef? generator, string field = "generator.id") =>
        GeneratorArtifact.Load(store, generator?.Id ?? "", device, field);

    public override Task TrainGenerator(TrainGeneratorRequest request, IServerStreamWriter<JobEvent> responseStream, ServerCallContext context)
    {
        var plan = TrainingPlan.From(request, _o);
        var key = JobRunner.KeyFor(request.Job?.JobKey ?? "", "train-generator", JobRunner.ContentOf(request));
        int ckptSeconds = request.Job?.CheckpointSeconds > 0 ? request.Job.CheckpointSeconds : _o.CheckpointSeconds;
        return Runner.RunAsync(key, job => GeneratorTrainingJob.RunAsync(job, plan, ckptSeconds, store, device), responseStream, context.CancellationToken);
    }

    public override async Task Generate(GenerateRequest request, IServerStreamWriter<GeneratedImage> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        if (request.Prompts.Count == 0 || request.Prompts.Count > _o.MaxPrompts) throw new InvalidInputException("prompts", $"give 1 to {_o.MaxPrompts} prompts");
        if (request.Seeds.Count != 0 && request.Seeds.Count != request.Prompts.Count) throw new InvalidInputException("seeds", "give none or one per prompt");
        var (steps, guidance) = Sampling(request.Steps, request.Guidance);
        using var loaded = Load(request.Generator);
        loaded.Generator.Tokenize(request.Prompts.ToList()); // validates every prompt before sampling
        var seeds = request.Seeds.Count > 0 ? request.Seeds.ToList() : Enumerable.Range(0, request.Prompts.Count).Select(i => (long)i).ToList();
        const int chunk = 32;
        for (int i = 0; i < request.Prompts.Count; i += chunk)
        {
            ct.ThrowIfCancellationRequested();
            int n = Math.Min(chunk, request.Prompts.Count - i), first = i;
            var prompts = request.Prompts.Skip(i).Take(n).ToList();
            // The messages own copies of their bytes, so the scope closes before the writes' awaits.
            var messages = TensorScope.Run(() =>
            {
                var images = loaded.Generator.Generate(prompts, seeds.Skip(first).Take(n).ToList(), steps, guidance, (_, _) => ct.ThrowIfCancellationRequested());
                return Enumerable.Range(0, n).Select(j => GeneratedImages.Message(first + j, prompts[j], seeds[first + j], images[j], request.IncludeTensors)).ToList();
            });
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

    public override Task Erase(EraseRequest request, IServerStreamWriter<JobEvent> responseStream, ServerCallContext context)
    {
        var spec = new EraseSpec { Concepts = request.Concepts.ToList(), Targets = request.Targets.ToList(), Preserve = request.Preserve.ToList(), Seed = request.Seed };
        var method = string.IsNullOrEmpty(request.Eraser?.Method) ? "realera" : request.Eraser.Method;
        var eraser = ConceptErasers.Family.Create(method, request.Eraser?.Options, "eraser");
        int samples = request.ReportSamples == 0 ? 32 : request.ReportSamples;
        if (samples is < 1 or > 256) throw new InvalidInputException("report_samples", "must be in [1, 256]");
        var (steps, guidance) = Sampling(request.ReportSteps == 0 ? 25 : request.ReportSteps, request.ReportGuidance, "report_steps", "report_guidance");
        using (var probe = Load(request.Generator)) ConceptErasers.Validate(probe.Generator, spec);
        var job = new EraseJob(store, device, request.Generator.Id, method, eraser, spec, samples, steps, guidance);
        var key = JobRunner.KeyFor(request.Job?.JobKey ?? "", "erase", JobRunner.ContentOf(request));
        return Runner.RunAsync(key, job.RunAsync, responseStream, context.CancellationToken);
    }

    public override Task<ComposeResponse> Compose(ComposeRequest request, ServerCallContext context)
    {
        int samples = request.Samples == 0 ? 4 : request.Samples;
        if (samples is < 1 or > 64) throw new InvalidInputException("samples", "must be in [1, 64]");
        var (steps, guidance) = Sampling(request.Steps, request.Guidance);
        if (request.Regions.Count is 0 or > MaskedComposition.MaxRegions) throw new InvalidInputException("regions", $"give 1 to {MaskedComposition.MaxRegions} regions");
        using var loaded = Load(request.Generator);
        using var scope = NewDisposeScope();
        var regions = request.Regions.Select((r, i) => new Region(r.Prompt, Mask(r.Mask, $"regions[{i}].mask"))).ToList();
        var seeds = Enumerable.Range(0, samples).Select(i => request.Seed + i).ToList();
        var result = MaskedComposition.Compose(loaded.Generator, loaded.Classifier, regions, request.BackgroundPrompt, seeds, steps, guidance);
        var response = new ComposeResponse { LayoutScore = result.LayoutScore };
        for (int i = 0; i < samples; i++)
            response.Images.Add(GeneratedImages.Message(i, string.Join(" | ", regions.Select(r => r.Prompt)), seeds[i], result.Images[i], false));
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

    public override Task<ExtractConceptsResponse> ExtractConcepts(ExtractConceptsRequest request, ServerCallContext context)
    {
        var (steps, guidance) = Sampling(request.Steps, request.Guidance);
        if (request.Image is null || request.Image.Shape.Count == 0) throw new InvalidInputException("image", "is required");
        using var loaded = Load(request.Generator);
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
            for (int i = 0; i < f.Regenerations.shape[0]; i++) e.Regenerations.Add(GeneratedImages.Message(i, "<extracted>", i, f.Regenerations[i], false));
            foreach (var (k, v) in f.RegeneratedConcepts) e.RegeneratedConcepts[k] = v;
            foreach (var (k, v) in f.SourceConcepts) e.SourceConcepts[k] = v;
            response.Concepts.Add(e);
        }
        return Task.FromResult(response);
    }

    public override Task<SteerResponse> Steer(SteerRequest request, ServerCallContext context)
    {
        var (steps, guidance) = Sampling(request.Steps, request.Guidance);
        if (string.IsNullOrEmpty(request.Concept)) throw new InvalidInputException("concept", "is required");
        using var loaded = Load(request.Generator);
        using var scope = NewDisposeScope();
        var direction = request.Direction is { Shape.Count: > 0 } d ? TensorCodec.ToTorch(d, "direction") : null;
        if (direction is not null && direction.dtype != ScalarType.Float32) throw new InvalidInputException("direction", "must be float32");
        var prompts = request.Prompts.ToList();
        for (int i = 0; i < prompts.Count; i++) loaded.Generator.Vocabulary.Words(prompts[i], $"prompts[{i}]");
        var r = ConceptSteering.Steer(loaded.Generator, loaded.Classifier, prompts, request.Concept, direction,
            request.Strength == 0 ? 1.0 : request.Strength, request.Samples == 0 ? 8 : request.Samples, request.Seed, steps, guidance);
        var response = new SteerResponse { ScoreBefore = r.ScoreBefore, ScoreAfter = r.ScoreAfter, RateBefore = r.RateBefore, RateAfter = r.RateAfter };
        if (request.IncludeImages)
            for (int i = 0; i < r.ImagesAfter.shape[0]; i++) response.Images.Add(GeneratedImages.Message(i, "steered", request.Seed + i, r.ImagesAfter[i], false));
        return Task.FromResult(response);
    }

    public override Task<EvaluateResponse> Evaluate(EvaluateRequest request, ServerCallContext context)
    {
        var (steps, guidance) = Sampling(request.Steps, request.Guidance);
        int samples = request.SamplesPerPrompt == 0 ? 16 : request.SamplesPerPrompt;
        using var loaded = Load(request.Generator);
        using var judgeSource = string.IsNullOrEmpty(request.ClassifierGenerator?.Id) ? null : Load(request.ClassifierGenerator, "classifier_generator.id");
        var judge = (judgeSource ?? loaded).Classifier;
        var prompts = request.Prompts.Count > 0 ? request.Prompts.ToList() : ConceptRates.DefaultPrompts(loaded.Generator, judge);
        var report = ConceptRates.Evaluate(loaded.Generator, judge, prompts, samples, steps, guidance, request.Seed, context.CancellationToken);
        var response = new EvaluateResponse { MeanRate = report.Concepts.Count == 0 ? 0 : report.Concepts.Average(c => c.Rate) };
        foreach (var c in report.Concepts)
            response.Concepts.Add(new ConceptRateReport { Concept = c.Concept, Group = c.Group, Rate = c.Rate, Chance = c.Chance, Samples = c.Samples });
        foreach (var p in report.Prompts)
        {
            var pr = new PromptRateReport { Prompt = p.Prompt };
            foreach (var (k, v) in p.Rates) pr.Rates[k] = v;
            response.Prompts.Add(pr);
        }
        return Task.FromResult(response);
    }
}
