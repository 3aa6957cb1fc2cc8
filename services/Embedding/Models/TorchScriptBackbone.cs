using System.Collections;
using ConceptSuite.Contracts;
using TorchSharp;

namespace ConceptSuite.Embedding.Models;

/// <summary>
/// A TorchScript module (saved with torch.jit.save) loaded by TorchSharp's torch.jit.load. Taps are
/// the module's outputs: a returned dict by key, a returned tuple/list by index ("0", "1", ...),
/// a single tensor as "output". The module receives pixels normalised as configured.
/// </summary>
public sealed class TorchScriptBackbone : IBackbone
{
    readonly torch.jit.ScriptModule _module;
    readonly torch.Device _device;
    readonly PixelNormalization? _norm;
    readonly Dictionary<string, string> _declared;
    readonly object _lock = new();
    List<TapSpec>? _taps;

    public TorchScriptBackbone(string name, string version, string source, string path, InputSpec input,
        IReadOnlyList<OnnxTap> taps, PixelNormalization? normalization, torch.Device device)
    {
        Name = name; Version = version; Source = source; Input = input; _norm = normalization; _device = device;
        try { _module = torch.jit.load(path, device); }
        catch (Exception e) when (e is not InvalidInputException) { throw new InvalidInputException("path", $"not a loadable TorchScript file: {e.Message}"); }
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


    public long WeightBytes => _module.parameters().Sum(p => p.NumberOfElements * p.ElementSize);

    public bool HasTap(string tap) => _declared.ContainsKey(tap);

    public Dictionary<string, torch.Tensor> Forward(torch.Tensor pixels, IReadOnlyList<string> taps)
    {
        using var scope = torch.NewDisposeScope();
        using var mode = torch.inference_mode();
        var x = pixels.to_type(torch.ScalarType.Float32);
        if (_norm is { } n)
            x = (x * n.Scale - torch.tensor(n.Mean).view(1, -1, 1, 1)) / torch.tensor(n.Std).view(1, -1, 1, 1);
        object output;
        lock (_lock) output = _module.call(x.to(_device));
        var result = new Dictionary<string, torch.Tensor>();
        foreach (var tap in taps)
        {
            if (!_declared.TryGetValue(tap, out var key)) throw new NotFoundException("tap (taps)", tap);
            var t = Select(output, key) ?? throw new InvalidInputException("taps", $"module output has no '{key}' for tap '{tap}'");
            result[tap] = t.to_type(torch.ScalarType.Float32).cpu().contiguous().clone().DetachFromDisposeScope();
        }
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
