using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ConceptSuite.Embedding.Models;

/// <summary>
/// A small CNN for 28×28-class images (LeCun et al. 1998 style): conv3×3(16)+ReLU → maxpool2 →
/// conv3×3(32)+ReLU → maxpool2 → linear(128)+ReLU → linear(classes). Taps: "conv1" [16, H, W],
/// "conv2" [32, H/2, W/2] (spatial), "features" [128], "logits" [classes].
/// </summary>
public sealed class SmallCnn : nn.Module<Tensor, Tensor>, ITappedNetwork
{
    readonly Conv2d conv1, conv2;
    readonly Linear fc, head;

    public SmallCnn(int channels, int height, int width, int classes) : base("SmallCnn")
    {
        conv1 = nn.Conv2d(channels, 16, 3, padding: 1);
        conv2 = nn.Conv2d(16, 32, 3, padding: 1);
        fc = nn.Linear(32 * (height / 4) * (width / 4), 128);
        head = nn.Linear(128, classes);
        RegisterComponents();
    }

    public IReadOnlyList<string> TapNames => ["features", "conv1", "conv2", "logits"];

    /// <summary>Per-row tap shapes for <paramref name="s"/>, in <see cref="TapNames"/> order.</summary>
    public static IReadOnlyList<(string Name, long[] Shape)> TapShapes(Methods.BackboneShape s) =>
        [("features", [128]), ("conv1", [16, s.Height, s.Width]), ("conv2", [32, s.Height / 2, s.Width / 2]), ("logits", [s.Classes])];

    public Dictionary<string, Tensor> Taps(Tensor x)
    {
        var c1 = nn.functional.relu(conv1.call(x));
        var c2 = nn.functional.relu(conv2.call(nn.functional.max_pool2d(c1, 2)));
        var f = nn.functional.relu(fc.call(nn.functional.max_pool2d(c2, 2).flatten(1)));
        return new() { ["conv1"] = c1, ["conv2"] = c2, ["features"] = f, ["logits"] = head.call(f) };
    }

    public override Tensor forward(Tensor x) => Taps(x)["logits"];
}

