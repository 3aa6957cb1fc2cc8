using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace ConceptSuite.Generate.Model;

/// <summary>Residual block with a timestep-embedding shift (Ho et al., 2020): h + conv(silu(norm(conv(silu(norm(x))) + W·t))).</summary>
public sealed class ResBlock : Module<Tensor, Tensor, Tensor>
{
    readonly GroupNorm norm1, norm2;
    readonly Conv2d conv1, conv2;
    readonly Linear time;
    readonly Module<Tensor, Tensor> skip;

    public ResBlock(string name, int inChannels, int outChannels, int timeDim) : base(name)
    {
        norm1 = GroupNorm(Math.Min(8, inChannels), inChannels);
        conv1 = Conv2d(inChannels, outChannels, 3, padding: 1);
        time = Linear(timeDim, outChannels);
        norm2 = GroupNorm(Math.Min(8, outChannels), outChannels);
        conv2 = Conv2d(outChannels, outChannels, 3, padding: 1);
        skip = inChannels == outChannels ? Identity() : Conv2d(inChannels, outChannels, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor temb)
    {
        var h = conv1.forward(functional.silu(norm1.forward(x)));
        h = h + time.forward(functional.silu(temb)).unsqueeze(-1).unsqueeze(-1);
        h = conv2.forward(functional.silu(norm2.forward(h)));
        return skip.forward(x) + h;
    }
}
