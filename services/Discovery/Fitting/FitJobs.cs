using System.Diagnostics;
using System.Text.Json;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Jobs;
using ConceptSuite.Core.Methods;
using ConceptSuite.Discovery.Abstractions;
using ConceptSuite.Discovery.Methods;
using ConceptSuite.Discovery.Metrics;
using Microsoft.Extensions.Options;
using TorchSharp;

namespace ConceptSuite.Discovery.Fitting;

/// <summary>
/// The work of a Fit job: trains every requested dictionary (and, for stability, a twin with
/// seed + 1) on one row source, incremental ones together in one pass per epoch, checkpoints
/// after each finished dictionary and each epoch, evaluates the metrics and stores one artifact.
/// </summary>
public sealed class FitJobs(IOptions<DiscoveryOptions> options)
{
    const string TwinSuffix = "#seed+1";

    /// <summary>Checks the dictionary specs (method, options, names) before any data is read.</summary>
    public List<PlannedDictionary> Plan(FitConfig config)
    {
        if (config.Dictionaries.Count == 0) throw new InvalidInputException("config.dictionaries", "at least one dictionary is required");
        if (config.Dictionaries.Count > options.Value.MaxDictionariesPerFit)
            throw new InvalidInputException("config.dictionaries", $"at most {options.Value.MaxDictionariesPerFit} per fit, got {config.Dictionaries.Count}");
        var plans = new List<PlannedDictionary>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < config.Dictionaries.Count; i++)
        {
            var s = config.Dictionaries[i];
            var field = $"config.dictionaries[{i}]";
            var (entry, values) = DictionaryMethods.Parse(s.Method, s.NConcepts, s.Options, field);
            var name = s.Name;
            if (string.IsNullOrEmpty(name))
            {
                name = $"{s.Method}_{s.NConcepts}";
                for (int j = 2; names.Contains(name); j++) name = $"{s.Method}_{s.NConcepts}_{j}";
            }
            else if (name.Length > 100 || name.Contains('/') || name.Contains('#'))
                throw new InvalidInputException(field + ".name", "must be at most 100 characters without '/' or '#'");
            if (!names.Add(name)) throw new InvalidInputException(field + ".name", $"'{name}' is used twice");
            plans.Add(new PlannedDictionary(i, name, s.Method, s.NConcepts, entry, values));
        }
        return plans;
    }

    /// <summary>Checks every planned method against the data statistics.</summary>
    public static void Validate(IReadOnlyList<PlannedDictionary> plans, DataStats stats)
    {
        foreach (var p in plans)
        {
            using var d = p.Create();
            try { d.Validate(stats); }
            catch (InvalidInputException e) when (e.Field != stats.Field)
            {
                throw new InvalidInputException($"config.dictionaries[{p.Index}].{e.Field}", e.Rule);
            }
        }
    }

    sealed class Member
    {
        public required PlannedDictionary Plan;
        public required string Key;     // name, or name + twin suffix
        public required long Seed;
        public required IConceptDictionary Dictionary;
        public bool Done;
        public double Seconds;
    }

    /// <summary>Runs the job; the row source and data id are already validated.</summary>
    public async Task<JobOutcome> RunAsync(JobContext job, IReadOnlyList<PlannedDictionary> plans, IRowSource data,
        string dataId, string tensor, FitConfig config, IRowSource? validation = null, IRowSource? paired = null, string pairedId = "")
    {
        var ct = job.CancellationToken;
        var members = new List<Member>();
        try
        {
            foreach (var p in plans)
            {
                members.Add(new Member { Plan = p, Key = p.Name, Seed = config.Seed, Dictionary = p.Create() });
                if (!config.SkipStability)
                    members.Add(new Member { Plan = p, Key = p.Name + TwinSuffix, Seed = config.Seed + 1, Dictionary = p.Create() });
            }
            int period = config.Job?.CheckpointSeconds > 0 ? config.Job.CheckpointSeconds : options.Value.CheckpointSeconds;
            var lastCheckpoint = Stopwatch.StartNew();

            // Resume: finished dictionaries are loaded; an incremental group continues after its last epoch.
            var resumedEpochs = new Dictionary<string, int>();
            Dictionary<string, torch.Tensor>? resumedTensors = null;
            if (job.LoadCheckpoint() is { } ckpt)
            {
                resumedTensors = ckpt.Tensors;
                var state = JsonSerializer.Deserialize<CheckpointState>(ckpt.StateJson) ?? new CheckpointState();
                foreach (var m in members.Where(m => state.Done.Contains(m.Key)))
                {
                    m.Dictionary.LoadState(Slice(ckpt.Tensors, "done/" + m.Key + "/"));
                    m.Done = true;
                }
                foreach (var (k, e) in state.Epochs) resumedEpochs[k] = e;
                job.Message($"resumed: {state.Done.Count} dictionaries done, {state.Epochs.Count} in training");
            }

            void Checkpoint(bool force, IReadOnlyList<Member>? training = null, int epoch = -1)
            {
                if (!force && lastCheckpoint.Elapsed.TotalSeconds < period) return;
                var tensors = new Dictionary<string, torch.Tensor>();
                var st = new CheckpointState();
                foreach (var m in members.Where(m => m.Done))
                {
                    st.Done.Add(m.Key);
                    foreach (var (k, v) in m.Dictionary.SaveState()) tensors[$"done/{m.Key}/{k}"] = v;
                }
                if (training is not null)
                    foreach (var m in training.Where(m => !m.Done))
                    {
                        st.Epochs[m.Key] = epoch;
                        foreach (var (k, v) in ((IIncrementalDictionary)m.Dictionary).TrainingState()) tensors[$"train/{m.Key}/{k}"] = v;
                    }
                job.SaveCheckpoint(tensors, JsonSerializer.Serialize(st));
                foreach (var t in tensors.Values) t.Dispose();
                lastCheckpoint.Restart();
            }

            var fitCtx = new FitContext
            {
                Seed = config.Seed,
                CancellationToken = ct,
                Progress = (d, t, u, ph) => job.Progress(d, t, u, ph),
                Metrics = (s, v) => job.Metrics(s, v),
            };

            // Whole-data methods, one after another.
            foreach (var m in members.Where(m => !m.Done && m.Dictionary is not IIncrementalDictionary))
            {
                var sw = Stopwatch.StartNew();
                m.Dictionary.Fit(data, new FitContext { Seed = m.Seed, CancellationToken = ct, Progress = fitCtx.Progress, Metrics = fitCtx.Metrics, Paired = paired });
                m.Seconds = sw.Elapsed.TotalSeconds;
                Settle(m);
                Checkpoint(force: true);
            }

            // Incremental methods: grouped by (batch size, epochs); each group shares every block read.
            var groups = members.Where(m => !m.Done && m.Dictionary is IIncrementalDictionary)
                .GroupBy(m => (((IIncrementalDictionary)m.Dictionary).BatchSize, ((IIncrementalDictionary)m.Dictionary).Epochs));
            foreach (var group in groups)
            {
                var list = group.ToList();
                var models = list.Select(m => (IIncrementalDictionary)m.Dictionary).ToList();
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < list.Count; i++)
                    models[i].Begin(data, new FitContext { Seed = list[i].Seed, CancellationToken = ct });
                int start = 0;
                if (resumedTensors is not null && list.All(m => resumedEpochs.ContainsKey(m.Key)))
                {
                    try
                    {
                        // Parameters, optimiser moments, dead-latent counters and steps; the data order
                        // of each epoch derives from (seed, epoch), so the rest of the fit is the one
                        // the uninterrupted run makes, bit for bit.
                        for (int i = 0; i < list.Count; i++)
                            models[i].RestoreTrainingState(Slice(resumedTensors, "train/" + list[i].Key + "/"));
                        start = list.Min(m => resumedEpochs[m.Key]) + 1;
                        job.Message($"resumed training of {string.Join(", ", list.Select(m => m.Key))} at epoch {start}");
                    }
                    catch (Exception e) when (e is InvalidDataException or KeyNotFoundException)
                    {
                        job.Message($"the checkpointed training state is unusable ({e.Message}); training starts over", JobMessage.Types.Level.Warning);
                        for (int i = 0; i < list.Count; i++)
                            models[i].Begin(data, new FitContext { Seed = list[i].Seed, CancellationToken = ct });
                    }
                }
                IncrementalTrainer.Train(models, data, fitCtx, epoch => Checkpoint(force: false, list, epoch), start, begin: false);
                foreach (var m in list) { m.Seconds = sw.Elapsed.TotalSeconds; Settle(m); }
                Checkpoint(force: true);
            }
            if (resumedTensors is not null) foreach (var t in resumedTensors.Values) t.Dispose();

            // Metrics and the artifact.
            long evalSamples = config.EvalSamples > 0 ? config.EvalSamples : options.Value.EvalSamples;
            var items = new List<(DictionaryMeta, IConceptDictionary)>();
            var outcome = new Dictionary<string, double>();
            foreach (var m in members.Where(m => m.Key == m.Plan.Name))
            {
                job.Progress(items.Count, plans.Count, "dictionaries", "evaluate");
                var rec = DictionaryMetrics.Evaluate(m.Dictionary, data, evalSamples, ct);
                var metrics = rec.ToDictionary();
                if (validation is not null)
                    foreach (var (k, v) in DictionaryMetrics.Evaluate(m.Dictionary, validation, evalSamples, ct).ToDictionary())
                        metrics["val_" + k] = v;
                if (paired is not null && m.Dictionary is IPairedDictionary two)
                    foreach (var (k, v) in DictionaryMetrics.Evaluate(two.PairedSide(), paired, evalSamples, ct).ToDictionary())
                        if (k != "eval_samples") metrics["paired_" + k] = v;
                metrics["samples"] = data.Samples;
                var twin = members.FirstOrDefault(t => t.Key == m.Plan.Name + TwinSuffix);
                if (twin is not null)
                {
                    using var a = m.Dictionary.Atoms();
                    using var b = twin.Dictionary.Atoms();
                    metrics["stability"] = DictionaryMetrics.Stability(a, b);
                }
                items.Add((new DictionaryMeta
                {
                    Name = m.Plan.Name, Method = m.Plan.Method, Concepts = m.Plan.Concepts, InputDim = data.Dim,
                    Seed = m.Seed, Options = new(m.Plan.Options.Canonical), Metrics = metrics,
                }, m.Dictionary));
                foreach (var (k, v) in metrics) outcome[plans.Count == 1 ? k : $"{m.Plan.Name}/{k}"] = v;
                job.Metrics(0, plans.Count == 1 ? metrics : metrics.ToDictionary(kv => $"{m.Plan.Name}/{kv.Key}", kv => kv.Value));
            }
            // Wall time varies between runs of the same fit: it goes to the unhashed run record, not the metrics.
            var run = new Dictionary<string, object>
            {
                ["seconds"] = members.Where(m => m.Key == m.Plan.Name).ToDictionary(m => m.Plan.Name, m => m.Seconds),
                ["resumed"] = job.Resumed,
            };
            var info = await DictionaryArtifacts.SaveAsync(job.Store, items, dataId, tensor, ct, JsonSerializer.Serialize(run), pairedId);
            return new JobOutcome(info, outcome);
        }
        finally
        {
            foreach (var m in members) m.Dictionary.Dispose();
        }
    }

    /// <summary>
    /// Marks a trained member done and replaces its dictionary by one loaded from its saved state:
    /// the metrics and the artifact then come from exactly the tensors a checkpoint holds, so a fit
    /// that resumes with this member done (after a crash) evaluates the same numbers, and its
    /// artifact has the same id, as the run that never stopped.
    /// </summary>
    static void Settle(Member m)
    {
        var state = m.Dictionary.SaveState();
        var loaded = m.Plan.Create();
        try { loaded.LoadState(state); }
        catch { loaded.Dispose(); throw; }
        finally { foreach (var t in state.Values) t.Dispose(); }
        m.Dictionary.Dispose();
        m.Dictionary = loaded;
        m.Done = true;
    }

    static Dictionary<string, torch.Tensor> Slice(Dictionary<string, torch.Tensor> all, string prefix) =>
        all.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);

    sealed class CheckpointState
    {
        public List<string> Done { get; set; } = new();
        public Dictionary<string, int> Epochs { get; set; } = new();
    }
}
