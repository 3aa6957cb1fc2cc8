using System.Collections;
using ConceptSuite.Contracts;
using TorchSharp;

namespace ConceptSuite.Embedding.Models;

/// <summary>
/// A TorchScript module (saved with torch.jit.save) loaded by TorchSharp's torch.jit.load. Taps are
/// the module's outputs — a returned dict by key, a returned tuple/list by index ("0", "1", ...),
/// a single tensor as "output" — or, with source "module:&lt;path&gt;", the output of a named
/// submodule. TorchSharp runs a script module only as a whole (hooks on a loaded module see its
/// own call, not the calls its graph makes), so a submodule's output is read by running the
/// module's children in order, descending into the children on the tap's path; that equals the
/// module's forward only when its forward is that chain (nn.Sequential and the like), which
/// <see cref="CheckModuleTaps"/> measures on a dry run. The module receives pixels normalised
/// as configured.
/// </summary>
public sealed class TorchScriptBackbone : IBackbone
{
    /// <summary>The source prefix of a submodule tap.</summary>
    public const string ModulePrefix = "module:";

    readonly torch.jit.ScriptModule _module;
    readonly torch.Device _device;
    readonly PixelNormalization? _norm;
    readonly Dictionary<string, string> _declared;
    readonly object _lock = new();
    List<TapSpec>? _taps;
    Dictionary<string, string>? _dtypes;

    /// <summary>A module read from a file (the model directory).</summary>
    public TorchScriptBackbone(string name, string version, string source, string path, InputSpec input,
        IReadOnlyList<OnnxTap> taps, PixelNormalization? normalization, torch.Device device)
        : this(name, version, source, () => torch.jit.load(path, device), input, taps, normalization, device) { }

    /// <summary>A module from its bytes (a registered model); a file TorchSharp cannot load is INVALID_ARGUMENT naming <c>model</c>.</summary>
    public TorchScriptBackbone(string name, string version, string source, byte[] model, InputSpec input,
        IReadOnlyList<OnnxTap> taps, PixelNormalization? normalization, torch.Device device)
        : this(name, version, source, () => torch.jit.load(model, device), input, taps, normalization, device) { }

    TorchScriptBackbone(string name, string version, string source, Func<torch.jit.ScriptModule> load, InputSpec input,
        IReadOnlyList<OnnxTap> taps, PixelNormalization? normalization, torch.Device device)
    {
        Name = name; Version = version; Source = source; Input = input; _norm = normalization; _device = device;
        try { _module = load(); }
        catch (Exception e) when (e is not InvalidInputException) { throw new InvalidInputException("model", $"not a loadable TorchScript file: {e.Message}"); }
        _module.eval();
        _declared = taps.Count == 0 ? new() { ["output"] = "output" } : taps.ToDictionary(t => t.Name, t => t.Value);
    }

    public string Name { get; }
    public string Version { get; }
    public string Kind => "torchscript";
    public string Source { get; }
    public InputSpec Input { get; }

    public IReadOnlyList<TapSpec> Taps
    {
        get { lock (_lock) return _taps ??= this.ProbeTaps(_declared.Keys.ToList(), t => _declared[t]); }
    }

    /// <summary>The dtype each tap had on the dry run, before conversion to float32 ("float32", "float16", ...).</summary>
    public IReadOnlyDictionary<string, string> TapDTypes
    {
        get { _ = Taps; lock (_lock) return _dtypes ?? throw new InvalidOperationException("no dry run yet"); }
    }

    public long WeightBytes => _module.parameters().Sum(p => p.NumberOfElements * p.ElementSize);

    public bool HasTap(string tap) => _declared.ContainsKey(tap);

    /// <summary>
    /// Checks on a dry run that every submodule tap is reachable: the children chain of the module
    /// reproduces its forward output (a tensor) to 1e-5 relative. INVALID_ARGUMENT naming
    /// <c>taps[i]</c> otherwise, or when a path names no submodule.
    /// </summary>
    public void CheckModuleTaps()
    {
        var modular = _declared.Select((kv, i) => (kv.Key, kv.Value, i)).Where(t => t.Value.StartsWith(ModulePrefix, StringComparison.Ordinal)).ToList();
        if (modular.Count == 0) return;
        using var scope = torch.NewDisposeScope();
        using var mode = torch.inference_mode();
        var x = Normalize(torch.zeros(1, Input.Channels, Input.Height, Input.Width)).to(_device);
        foreach (var (tap, source, i) in modular)
            if (!HasPath(_module, source[ModulePrefix.Length..].Split('.')))
                throw new InvalidInputException($"taps[{i}]", $"'{source}': the module has no submodule '{source[ModulePrefix.Length..]}'");
        object output;
        lock (_lock) output = _module.call(x);
        if (output is not torch.Tensor forward)
            throw new InvalidInputException($"taps[{modular[0].i}]", "submodule taps need a module whose forward returns one tensor (its children chain is compared with it)");
        var wanted = modular.Select(m => m.Value[ModulePrefix.Length..]).ToHashSet(StringComparer.Ordinal);
        var found = new Dictionary<string, torch.Tensor>();
        torch.Tensor chained;
        lock (_lock) chained = Chain(_module, "", x, wanted, found, everyChild: true);
        double scale = Math.Max(forward.abs().max().item<float>(), 1e-6f);
        double diff = chained.shape.SequenceEqual(forward.shape) ? (chained - forward).abs().max().item<float>() : double.PositiveInfinity;
        if (!(diff <= 1e-5 * scale))
            throw new InvalidInputException($"taps[{modular[0].i}]",
                $"'{modular[0].Value}': running the module's children in order does not reproduce its forward (max difference {diff:G3}), so its submodules' outputs cannot be read; tap its outputs instead");
    }

    static bool HasPath(torch.jit.ScriptModule m, string[] parts)
    {
        foreach (var (name, child) in m.named_children())
            if (name == parts[0]) return parts.Length == 1 || child is torch.jit.ScriptModule s && HasPath(s, parts[1..]);
        return false;
    }

    /// <summary>
    /// Runs <paramref name="m"/> on <paramref name="x"/>: as a whole, unless a wanted path lies inside
    /// it (or <paramref name="everyChild"/>), then child by child, recording the wanted outputs.
    /// </summary>
    static torch.Tensor Chain(torch.jit.ScriptModule m, string prefix, torch.Tensor x, HashSet<string> wanted,
        Dictionary<string, torch.Tensor> found, bool everyChild = false)
    {
        bool inside = everyChild || wanted.Any(w => prefix.Length == 0 || w.StartsWith(prefix + ".", StringComparison.Ordinal));
        if (!inside) return m.call(x) as torch.Tensor ?? throw new InvalidInputException("taps", $"submodule '{prefix}' does not return one tensor");
        foreach (var (name, child) in m.named_children())
        {
            var path = prefix.Length == 0 ? name : prefix + "." + name;
            x = Chain((torch.jit.ScriptModule)child, path, x, wanted, found);
            if (wanted.Contains(path)) found[path] = x;
        }
        return x;
    }

    torch.Tensor Normalize(torch.Tensor pixels) => _norm is { } n ? n.Apply(pixels) : pixels.to_type(torch.ScalarType.Float32);

    public Dictionary<string, torch.Tensor> Forward(torch.Tensor pixels, IReadOnlyList<string> taps)
    {
        using var scope = torch.NewDisposeScope();
        using var mode = torch.inference_mode();
        var x = Normalize(pixels).to(_device);
        var keys = new Dictionary<string, string>();
        foreach (var tap in taps)
            keys[tap] = _declared.TryGetValue(tap, out var key) ? key : throw new NotFoundException("tap (taps)", tap);
        var modules = keys.Values.Where(k => k.StartsWith(ModulePrefix, StringComparison.Ordinal)).Select(k => k[ModulePrefix.Length..]).ToHashSet(StringComparer.Ordinal);
        object? output = null;
        var found = new Dictionary<string, torch.Tensor>();
        lock (_lock)
        {
            if (keys.Values.Any(k => !k.StartsWith(ModulePrefix, StringComparison.Ordinal))) output = _module.call(x);
            if (modules.Count > 0) Chain(_module, "", x, modules, found);
        }
        var result = new Dictionary<string, torch.Tensor>();
        var dtypes = new Dictionary<string, string>();
        foreach (var (tap, key) in keys)
        {
            var t = key.StartsWith(ModulePrefix, StringComparison.Ordinal) ? found.GetValueOrDefault(key[ModulePrefix.Length..]) : Select(output!, key);
            if (t is null) throw new InvalidInputException("taps", $"module output has no '{key}' for tap '{tap}'");
            if (!t.is_floating_point()) throw new InvalidInputException("taps", $"tap '{tap}' ('{key}') is {t.dtype}; taps must be floating point");
            dtypes[tap] = t.dtype.ToString().ToLowerInvariant();
            result[tap] = t.to_type(torch.ScalarType.Float32).cpu().contiguous().clone().DetachFromDisposeScope();
        }
        lock (_lock) if (_dtypes is null && dtypes.Count == _declared.Count) _dtypes = dtypes;
        return result;
    }

    static torch.Tensor? Select(object output, string key) => output switch
    {
        torch.Tensor t => key == "output" ? t : null,
        IDictionary d => d.Contains(key) ? d[key] as torch.Tensor : null,
        IList l => int.TryParse(key, out var i) && i >= 0 && i < l.Count ? l[i] as torch.Tensor : null,
        _ => null,
    };

    public void Dispose() => _module.Dispose();
}
