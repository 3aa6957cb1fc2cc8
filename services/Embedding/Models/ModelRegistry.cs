using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Caching;
using ConceptSuite.Core.Hosting;
using ConceptSuite.Embedding.Inference;
using ConceptSuite.Embedding.Text;
using Microsoft.Extensions.Options;
using TorchSharp;

namespace ConceptSuite.Embedding.Models;

/// <summary>
/// Every model the stage serves, by name: the bundled ResNet18 and MiniLM, each "&lt;name&gt;.json"
/// in the model directory (ONNX or TorchScript), trained built-in networks stored as
/// "backbone" artifacts (name "backbone:&lt;artifact id&gt;"), and models registered by RegisterModel,
/// stored as "model" artifacts (by their name, or "model:&lt;artifact id&gt;"; a model-directory entry
/// of the same name wins). Models load on first use, each with
/// its own micro-batcher, into a cache bounded by count and weight bytes
/// (ConceptSuite:Embedding:MaxLoadedModels / MaxLoadedModelBytes): a caller holds a model through
/// a <see cref="LeasedLruCache{TKey, TValue}.Lease"/>, and an evicted model is disposed when its
/// last caller is done. Listing and describing read backbone metadata only.
/// </summary>
public sealed class ModelRegistry : IAsyncDisposable
{
    readonly EmbeddingOptions _options;
    readonly string _modelDir;
    readonly ArtifactStore _store;
    readonly torch.Device _device;
    readonly LeasedLruCache<string, LoadedModel> _loaded;
    readonly MiniLmEncoder _minilm;

    public ModelRegistry(IOptions<EmbeddingOptions> options, IOptions<SuiteOptions> suite, ArtifactStore store, torch.Device device)
    {
        _options = options.Value;
        _minilm = new MiniLmEncoder(_options.MaxTextTokens, _options.OnnxThreads);
        _modelDir = Path.GetFullPath(string.IsNullOrEmpty(_options.ModelDir) ? Path.Combine(suite.Value.DataDir, "models") : _options.ModelDir);
        _store = store;
        _device = device;
        _loaded = new LeasedLruCache<string, LoadedModel>(_options.MaxLoadedModels, _options.MaxLoadedModelBytes, m => m.Backbone.WeightBytes,
            m => m.Dispose(), StringComparer.Ordinal);
    }

    /// <summary>A loaded image model and its micro-batcher.</summary>
    public sealed record LoadedModel(IBackbone Backbone, MicroBatcher Batcher) : IDisposable
    {
        public void Dispose()
        {
            Batcher.DisposeAsync().AsTask().GetAwaiter().GetResult();
            Backbone.Dispose();
        }
    }

    /// <summary>The cache of loaded models (for its bounds and counters).</summary>
    public LeasedLruCache<string, LoadedModel> Loaded => _loaded;

    public string ModelDir => _modelDir;

    /// <summary>Names of the image models known now (bundled, model directory, backbone artifacts).</summary>
    public IEnumerable<string> ImageModelNames()
    {
        yield return BundledModels.ResNet18Name;
        if (Directory.Exists(_modelDir))
            foreach (var f in Directory.EnumerateFiles(_modelDir, "*.json").Order(StringComparer.Ordinal))
                yield return Path.GetFileNameWithoutExtension(f);
        foreach (var a in _store.List(BackboneArtifacts.Kind).OrderBy(a => a.Ref.Id, StringComparer.Ordinal))
            yield return BackboneArtifacts.Prefix + a.Ref.Id;
        foreach (var name in Registered().Select(r => r.Meta.Name).Distinct().Order(StringComparer.Ordinal))
            if (!InModelDir(name)) yield return name;
    }

    /// <summary>The registered models' artifacts with their metadata (unreadable metadata left out), by id.</summary>
    IEnumerable<(ArtifactInfo Info, RegisteredModelMeta Meta)> Registered()
    {
        foreach (var a in _store.List(RegisteredModels.Kind).OrderBy(a => a.Ref.Id, StringComparer.Ordinal))
        {
            RegisteredModelMeta meta;
            try { meta = RegisteredModels.ReadMeta(a, "model"); }
            catch (InvalidInputException) { continue; }
            yield return (a, meta);
        }
    }

    /// <summary>The artifact registered under <paramref name="name"/> (the lowest id if several), or null.</summary>
    public ArtifactInfo? FindRegistered(string name) =>
        RegisteredModels.IsValidName(name) ? Registered().FirstOrDefault(r => r.Meta.Name == name).Info : null;

    /// <summary>True when <paramref name="name"/> is served from the model directory.</summary>
    public bool InModelDir(string name) => RegisteredModels.IsValidName(name) && File.Exists(Path.Combine(_modelDir, name + ".json"));

    /// <summary>True when <paramref name="name"/> is a name the stage itself gives (bundled models).</summary>
    public static bool IsBundledName(string name) => name is BundledModels.ResNet18Name or MiniLmEncoder.ModelName;

    public ITextEncoder Text(string name, string field = "model")
    {
        if (string.IsNullOrEmpty(name) || name == MiniLmEncoder.ModelName) return _minilm;
        throw new NotFoundException($"text model ({field})", name);
    }

    /// <summary>
    /// The image model <paramref name="name"/> (loaded on first use), held until the lease is
    /// disposed; NOT_FOUND when unknown.
    /// </summary>
    public LeasedLruCache<string, LoadedModel>.Lease Acquire(string name, string field = "model")
    {
        if (string.IsNullOrWhiteSpace(name)) throw new InvalidInputException(field, "is required");
        if (name == MiniLmEncoder.ModelName) throw new InvalidInputException(field, "'minilm' is a text model; use EmbedText");
        // A registered model is cached by its artifact id, so a name registered anew is never served stale.
        if (!name.Contains(':') && !IsBundledName(name) && !InModelDir(name) && FindRegistered(name) is { } registered)
            name = RegisteredModels.Prefix + registered.Ref.Id;
        return _loaded.Acquire(name, n =>
        {
            var b = Load(n, field);
            return new LoadedModel(b, new MicroBatcher(b, _options.MaxBatch, TimeSpan.FromMilliseconds(_options.BatchWindowMs)));
        });
    }

    IBackbone Load(string name, string field)
    {
        if (name == BundledModels.ResNet18Name) return BundledModels.LoadResNet18(OnnxSettings.From(_options));
        if (name.StartsWith(BackboneArtifacts.Prefix, StringComparison.Ordinal))
            return BackboneArtifacts.Load(_store, name[BackboneArtifacts.Prefix.Length..], _device, field);
        if (name.StartsWith(RegisteredModels.Prefix, StringComparison.Ordinal))
            return RegisteredModels.Load(_store, name[RegisteredModels.Prefix.Length..], _device, OnnxSettings.From(_options), field);
        if (!RegisteredModels.IsValidName(name))
            throw new InvalidInputException(field, "model names are 1-128 characters of [A-Za-z0-9._-]");
        var config = Path.Combine(_modelDir, name + ".json");
        if (!File.Exists(config)) throw new NotFoundException($"model ({field})", name);
        return ModelConfig.Read(config).Load(name, _modelDir, _device, OnnxSettings.From(_options));
    }

    /// <summary>The registry entry as the API describes it.</summary>
    public ModelDescriptor Describe(string name, string field = "name")
    {
        if (name == MiniLmEncoder.ModelName)
        {
            var t = _minilm;
            var d = new ModelDescriptor { Name = t.Name, Version = t.Version, Kind = "text", Source = t.Source, MaxBatch = _options.MaxBatch };
            var tap = new TapDescriptor { Name = "sentence", Layout = "vector", Source = "mean pooling + L2 norm" };
            tap.Shape.Add(t.Dimension);
            d.Taps.Add(tap);
            // Token-level taps (EmbedTextRequest.token_tap): the residual stream, one row per real token.
            foreach (var name2 in MiniLmTokenModel.Taps)
            {
                var tt = new TapDescriptor { Name = name2, Layout = "tokens",
                    Source = name2 == "embeddings" ? "residual stream after the embedding LayerNorm" : $"residual stream after transformer block {name2[5..]}" };
                tt.Shape.Add(-1);
                tt.Shape.Add(t.Dimension);
                d.Taps.Add(tt);
            }
            return d;
        }
        if (name.StartsWith(BackboneArtifacts.Prefix, StringComparison.Ordinal))
            return BackboneArtifacts.Describe(_store.GetInfo(name[BackboneArtifacts.Prefix.Length..], field), _options.MaxBatch, field);
        if (name.StartsWith(RegisteredModels.Prefix, StringComparison.Ordinal))
            return RegisteredModels.Describe(_store.GetInfo(name[RegisteredModels.Prefix.Length..], field), _options.MaxBatch, field);
        if (!IsBundledName(name) && !InModelDir(name) && FindRegistered(name) is { } registered)
            return RegisteredModels.Describe(registered, _options.MaxBatch, field);
        using var lease = Acquire(name, field);
        var b = lease.Value.Backbone;
        var m = new ModelDescriptor
        {
            Name = b.Name, Version = b.Version, Kind = b.Kind, Source = b.Source, MaxBatch = _options.MaxBatch,
            Input = new ModelInputSpec { Channels = b.Input.Channels, Height = b.Input.Height, Width = b.Input.Width, Preprocessing = b.Input.Preprocessing },
        };
        foreach (var tap in b.Taps)
        {
            var td = new TapDescriptor { Name = tap.Name, Layout = tap.Layout, Source = tap.Source };
            td.Shape.Add(tap.Shape);
            m.Taps.Add(td);
        }
        return m;
    }

    public IEnumerable<ModelDescriptor> List(string kind)
    {
        foreach (var n in ImageModelNames())
        {
            ModelDescriptor d;
            // A broken model-directory entry is reported by GetModel; the listing goes on without it.
            try { d = Describe(n); }
            catch (Exception e) when (e is InvalidInputException or NotFoundException) { continue; }
            if (string.IsNullOrEmpty(kind) || d.Kind == kind) yield return d;
        }
        if (string.IsNullOrEmpty(kind) || kind == "text") yield return Describe(MiniLmEncoder.ModelName);
    }

    public ValueTask DisposeAsync()
    {
        _loaded.Dispose();
        _minilm.Dispose();
        return ValueTask.CompletedTask;
    }
}
