using System.Collections.Concurrent;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Hosting;
using ConceptSuite.Embedding.Inference;
using ConceptSuite.Embedding.Text;
using Microsoft.Extensions.Options;
using TorchSharp;

namespace ConceptSuite.Embedding.Models;

/// <summary>
/// Every model the stage serves, by name: the bundled ResNet18 and MiniLM, each "&lt;name&gt;.json"
/// in the model directory (ONNX or TorchScript), and trained built-in networks stored as
/// "backbone" artifacts (name "backbone:&lt;artifact id&gt;"). Models load on first use and stay
/// loaded, each with its own micro-batcher.
/// </summary>
public sealed class ModelRegistry : IAsyncDisposable
{
    readonly EmbeddingOptions _options;
    readonly string _modelDir;
    readonly ArtifactStore _store;
    readonly torch.Device _device;
    readonly ConcurrentDictionary<string, Lazy<(IBackbone Backbone, MicroBatcher Batcher)>> _loaded = new();
    readonly MiniLmEncoder _minilm = new();

    public ModelRegistry(IOptions<EmbeddingOptions> options, IOptions<SuiteOptions> suite, ArtifactStore store, torch.Device device)
    {
        _options = options.Value;
        _modelDir = Path.GetFullPath(string.IsNullOrEmpty(_options.ModelDir) ? Path.Combine(suite.Value.DataDir, "models") : _options.ModelDir);
        _store = store;
        _device = device;
    }

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
    }

    public ITextEncoder Text(string name, string field = "model")
    {
        if (string.IsNullOrEmpty(name) || name == MiniLmEncoder.ModelName) return _minilm;
        throw new NotFoundException($"text model ({field})", name);
    }

    /// <summary>The image model <paramref name="name"/> (loaded on first use); NOT_FOUND when unknown.</summary>
    public IBackbone Image(string name, string field = "model") => Entry(name, field).Backbone;

    /// <summary>The micro-batcher of image model <paramref name="name"/>.</summary>
    public MicroBatcher Batcher(string name, string field = "model") => Entry(name, field).Batcher;

    (IBackbone Backbone, MicroBatcher Batcher) Entry(string name, string field)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new InvalidInputException(field, "is required");
        if (name == MiniLmEncoder.ModelName) throw new InvalidInputException(field, "'minilm' is a text model; use EmbedText");
        var lazy = _loaded.GetOrAdd(name, n => new Lazy<(IBackbone, MicroBatcher)>(() =>
        {
            var b = Load(n, field);
            return (b, new MicroBatcher(b, _options.MaxBatch, TimeSpan.FromMilliseconds(_options.BatchWindowMs)));
        }));
        try { return lazy.Value; }
        catch { _loaded.TryRemove(name, out _); throw; }
    }

    IBackbone Load(string name, string field)
    {
        if (name == BundledModels.ResNet18Name) return BundledModels.LoadResNet18(_options.OnnxThreads);
        if (name.StartsWith(BackboneArtifacts.Prefix, StringComparison.Ordinal))
            return BackboneArtifacts.Load(_store, name[BackboneArtifacts.Prefix.Length..], _device, field);
        if (name.Length > 128 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') || name.StartsWith('.'))
            throw new InvalidInputException(field, "model names are 1-128 characters of [A-Za-z0-9._-]");
        var config = Path.Combine(_modelDir, name + ".json");
        if (!File.Exists(config)) throw new NotFoundException($"model ({field})", name);
        return ModelConfig.Read(config).Load(name, _modelDir, _device, _options.OnnxThreads);
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
            return d;
        }
        var b = Image(name, field);
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

    public async ValueTask DisposeAsync()
    {
        foreach (var l in _loaded.Values)
            if (l.IsValueCreated)
            {
                await l.Value.Batcher.DisposeAsync();
                l.Value.Backbone.Dispose();
            }
        _minilm.Dispose();
    }
}
