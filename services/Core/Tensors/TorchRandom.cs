using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ConceptSuite.Core.Tensors;

/// <summary>
/// Seeded weights without global state. libtorch's default generator is one per process and
/// TorchSharp's modules draw their initial weights from it, so seeding it (torch.manual_seed) makes
/// a job's weights depend on every other thread that draws at the same time. The suite never seeds
/// it: a job builds its module, then <see cref="Initialize{T}"/> draws every parameter again from a
/// generator of its own, with PyTorch's default initialisation for each layer type. Draws are made
/// on the CPU and copied to the parameter's device, so a seed gives the same weights everywhere.
/// </summary>
public static class TorchRandom
{
    /// <summary>
    /// Re-initialises every parameter of <paramref name="module"/> (in registration order) from a
    /// generator seeded with <paramref name="seed"/>; returns the module. A module type with
    /// parameters of its own that is neither a known layer nor an <see cref="ISeededInitialization"/>
    /// is refused (InvalidOperationException naming it), so no weight is left to the global generator.
    /// </summary>
    public static T Initialize<T>(T module, long seed) where T : nn.Module
    {
        using var g = new Generator(unchecked((ulong)seed));
        using var _ = no_grad();
        var modules = module.named_modules().ToList();
        if (!modules.Any(x => ReferenceEquals(x.module, module))) modules.Insert(0, ("", module));
        foreach (var (name, m) in modules)
        {
            var own = m.named_parameters(recurse: false).ToList();
            if (own.Count == 0) continue;
            switch (m)
            {
                case Linear or Conv1d or Conv2d or Conv3d or ConvTranspose1d or ConvTranspose2d or ConvTranspose3d:
                    // kaiming_uniform_(a = √5) and the bias rule of PyTorch's reset_parameters: both U(±1/√fan_in).
                    var bound = 1.0 / Math.Sqrt(FanIn(own.First(p => p.name == "weight").parameter));
                    foreach (var (_, p) in own) Uniform(p, bound, g);
                    break;
                case Embedding:
                    foreach (var (_, p) in own) Normal(p, 1.0, g);
                    break;
                case LayerNorm or GroupNorm or BatchNorm1d or BatchNorm2d or BatchNorm3d:
                    foreach (var (n, p) in own) p.fill_(n == "weight" ? 1.0 : 0.0);
                    break;
                case MultiheadAttention:
                    // PyTorch's _reset_parameters: projections xavier_uniform_, biases 0 (out_proj is a Linear child).
                    foreach (var (n, p) in own)
                        if (n.EndsWith("bias")) p.zero_();
                        else Uniform(p, Math.Sqrt(6.0 / (p.shape[0] + FanIn(p))), g);
                    break;
                case TransformerEncoderLayer:
                    // A native composite: its attention, feed-forward and norm parameters are its own, by dotted name.
                    foreach (var (n, p) in own)
                    {
                        if (n.EndsWith("in_proj_weight")) Uniform(p, Math.Sqrt(6.0 / (p.shape[0] + FanIn(p))), g);
                        else if (n.EndsWith("in_proj_bias") || n.EndsWith("out_proj.bias")) p.zero_();
                        else if (n.StartsWith("norm")) p.fill_(n.EndsWith("weight") ? 1.0 : 0.0);
                        else Uniform(p, 1.0 / Math.Sqrt(FanIn(own.First(q => q.name == n[..n.LastIndexOf('.')] + ".weight").parameter)), g);
                    }
                    break;
                case ISeededInitialization custom:
                    custom.Initialize(g);
                    break;
                default:
                    throw new InvalidOperationException($"module '{name}' ({m.GetType().Name}) has parameters ({string.Join(", ", own.Select(p => p.name))}) that TorchRandom.Initialize cannot draw: implement ISeededInitialization");
            }
        }
        return module;
    }

    /// <summary>p ← U(−bound, bound) drawn from <paramref name="g"/>.</summary>
    public static void Uniform(Tensor p, double bound, Generator g)
    {
        using var draw = empty(p.shape, p.dtype).uniform_(-bound, bound, generator: g);
        p.copy_(draw);
    }

    /// <summary>p ← N(0, std²) drawn from <paramref name="g"/>.</summary>
    public static void Normal(Tensor p, double std, Generator g)
    {
        using var draw = empty(p.shape, p.dtype).normal_(0.0, std, generator: g);
        p.copy_(draw);
    }

    static long FanIn(Tensor weight) => weight.dim() < 2 ? weight.shape[0] : weight.shape.Skip(1).Aggregate(1L, (a, b) => a * b);
}
