using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Jobs;
using ConceptSuite.Core.Tensors;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Explain.IntrinsicDimension;

/// <summary>
/// One IntrinsicDimension request as a job: the validated sweep (trainer, problem, dimensions),
/// its job key, and the run that trains, stores the "report" artifact and reports d_int.
/// </summary>
public sealed class IntrinsicDimensionJob
{
    readonly IntrinsicDimensionConfig _cfg;
    readonly SubspaceTraining _trainer;
    readonly ISubspaceProblem _problem;

    IntrinsicDimensionJob(IntrinsicDimensionConfig cfg, SubspaceTraining trainer, ISubspaceProblem problem, string contentHash)
    {
        _cfg = cfg; _trainer = trainer; _problem = problem;
        Key = JobRunner.KeyFor(cfg.Job?.JobKey ?? "", "explain.intrinsic_dimension", JobRunner.ContentOf(cfg), contentHash);
    }

    /// <summary>The job key: the request's, else a hash of the config and the training data.</summary>
    public JobKey Key { get; }

    /// <summary>Most subspace dimensions one sweep trains (config.dims).</summary>
    public const int MaxDims = 64;

    /// <summary>Most optimisation steps per training run (config.steps).</summary>
    public const int MaxSteps = 100_000;

    /// <summary>Widest hidden layer of the classifier problem (config.hidden).</summary>
    public const int MaxHidden = 4096;

    /// <summary>
    /// Validates everything before the job starts, the expansion included: the class count the
    /// labels imply (class limit), the problem's parameter count D, and the projection, D × the
    /// largest dimension float64 values (per-call budget).
    /// </summary>
    public static IntrinsicDimensionJob Plan(IntrinsicDimensionConfig cfg, ExplainInputs inputs, Core.Limits.RequestBudget budget)
    {
        if (cfg.Dims.Count > MaxDims) throw new InvalidInputException("config.dims", $"{cfg.Dims.Count} dimensions; at most {MaxDims}");
        if (cfg.Steps > MaxSteps) throw new InvalidInputException("config.steps", $"{cfg.Steps} is over the maximum of {MaxSteps}");
        if (cfg.Hidden > MaxHidden) throw new InvalidInputException("config.hidden", $"{cfg.Hidden} is over the maximum of {MaxHidden}");
        long maxDim = cfg.Dims.DefaultIfEmpty(1).Max();
        void Projection(long parameters) =>
            budget.Bytes("config.dims", Core.Limits.RequestBudget.Product(parameters, Math.Min(maxDim, parameters) + 1, 8));
        var trainer = new SubspaceTraining(string.IsNullOrEmpty(cfg.Projection) ? "dense" : cfg.Projection,
            cfg.Steps > 0 ? cfg.Steps : 1500, cfg.LearningRate > 0 ? cfg.LearningRate : 0.1, cfg.Threshold > 0 ? cfg.Threshold : 0.9, cfg.Seed);
        if (cfg.Dims.Count == 0) throw new InvalidInputException("config.dims", "is empty");
        if (cfg.Dims.Any(d => d < 1)) throw new InvalidInputException("config.dims", "every dimension must be at least 1");
        switch (cfg.Problem)
        {
            case "linear_constraints":
                int parameters = cfg.Parameters > 0 ? cfg.Parameters : 1000, constraints = cfg.Constraints > 0 ? cfg.Constraints : 10;
                budget.Bytes("config.parameters", Core.Limits.RequestBudget.Product(parameters, constraints, 8));
                Projection(parameters);
                return new(cfg, trainer, new LinearConstraintsProblem(parameters, constraints), "");
            case "classifier":
                var x = inputs.Require("features");
                var y = inputs.Indices("labels", x.shape[0]);
                if (cfg.Hidden < 0) throw new InvalidInputException("config.hidden", "must be ≥ 0");
                // A class per label value up to the largest: below the class limit before the head exists.
                long classes = budget.Classes("labels", y.DefaultIfEmpty(0).Max(), y.DefaultIfEmpty(0).Min());
                long features = x.dim() == 2 ? x.shape[1] : 0;
                Projection(cfg.Hidden > 0 ? (features + 1) * cfg.Hidden + (cfg.Hidden + 1L) * classes : (features + 1) * classes);
                var contentHash = Convert.ToHexString(SHA256.HashData(TensorCodec.Contiguous(x.to_type(ScalarType.Float64)).bytes))
                    + Convert.ToHexString(SHA256.HashData(MemoryMarshal.AsBytes(y.AsSpan())));
                return new(cfg, trainer, new ClassifierProblem(x, y, cfg.Hidden, seed: cfg.Seed), contentHash);
            default:
                throw new InvalidInputException("config.problem", $"unknown problem '{cfg.Problem}'; known: classifier, linear_constraints");
        }
    }

    /// <summary>Trains the sweep (on the job's pinned threads) and stores the report.</summary>
    public async Task<JobOutcome> RunAsync(JobContext ctx)
    {
        var result = _trainer.Sweep(_problem, _cfg.Dims.ToArray(), (done, total) => ctx.Progress(done, total, "training runs", "sweep"), ctx.CancellationToken);
        var tensors = new Dictionary<string, Tensor>
        {
            ["dims"] = torch.tensor(result.Dims),
            ["performance"] = torch.tensor(result.Performance),
        };
        var meta = JsonSerializer.Serialize(new
        {
            problem = _cfg.Problem, projection = _trainer.Projection, threshold = _trainer.Threshold,
            full_performance = result.FullPerformance, d_int = result.IntrinsicDimension, parameters = result.Parameters,
        });
        var info = await ctx.Store.PutAsync("report", tensors, meta, new Dictionary<string, string> { ["stage"] = ExplainStage.Name, ["report"] = "intrinsic_dimension" }, ctx.CancellationToken);
        foreach (var t in tensors.Values) t.Dispose();
        return new JobOutcome(info, new Dictionary<string, double>
        {
            ["d_int"] = result.IntrinsicDimension ?? -1,
            ["full_performance"] = result.FullPerformance,
            ["parameters"] = result.Parameters,
        });
    }
}
