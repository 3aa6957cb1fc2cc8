using ConceptSuite.Contracts;
using TorchSharp;

namespace ConceptSuite.Embedding.Models;

/// <summary>A built-in TorchSharp network (SmallCnn, SmallVit) served as a backbone; pixels / 255 in.</summary>
public sealed class BuiltinBackbone : IBackbone
{
    readonly torch.nn.Module<torch.Tensor, torch.Tensor> _module;
    readonly ITappedNetwork _net;
    readonly torch.Device _device;
    readonly object _lock = new();
    List<TapSpec>? _taps;

    public BuiltinBackbone(string name, string version, string source, torch.nn.Module<torch.Tensor, torch.Tensor> module, InputSpec input, torch.Device device)
    {
        Name = name; Version = version; Source = source; Input = input; _device = device;
        _module = module;
        _net = (ITappedNetwork)module;
        _module.to(device);
        _module.eval();
    }

    public string Name { get; }
    public string Version { get; }
    public string Kind => "builtin";
    public string Source { get; }
    public InputSpec Input { get; }

    public IReadOnlyList<TapSpec> Taps
    {
        get { lock (_lock) return _taps ??= this.ProbeTaps(_net.TapNames, t => t); }
    }


    public long WeightBytes => _module.parameters().Sum(p => p.NumberOfElements * p.ElementSize);

    public bool HasTap(string tap) => _net.TapNames.Contains(tap);

    public Dictionary<string, torch.Tensor> Forward(torch.Tensor pixels, IReadOnlyList<string> taps)
    {
        using var scope = torch.NewDisposeScope();
        using var mode = torch.inference_mode();
        Dictionary<string, torch.Tensor> all;
        lock (_lock) all = _net.Taps(pixels.to_type(torch.ScalarType.Float32).to(_device) / 255f);
        var result = new Dictionary<string, torch.Tensor>();
        foreach (var t in taps)
        {
            if (!all.TryGetValue(t, out var v)) throw new NotFoundException("tap (taps)", t);
            result[t] = v.cpu().contiguous().clone().DetachFromDisposeScope();
        }
        return result;
    }

    public void Dispose() => _module.Dispose();
}
