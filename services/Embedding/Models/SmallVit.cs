using ConceptSuite.Core.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ConceptSuite.Embedding.Models;

/// <summary>
/// A small vision transformer (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words"): P×P
/// patches → linear embedding (64) + learned positions, a class token, two post-norm encoder
/// layers (4 heads), a linear head on the class token. Taps: "cls" [64], "tokens" [1 + patches, 64]
/// (class token first), "logits" [classes].
/// </summary>
public sealed class SmallVit : nn.Module<Tensor, Tensor>, ITappedNetwork, ISeededInitialization
{
    const int Dim = 64;
    readonly int _patch;
    readonly Linear embed, head;
    readonly Parameter cls, pos;
    readonly ModuleList<TransformerEncoderLayer> layers;
    readonly LayerNorm norm;

    public SmallVit(int channels, int height, int width, int classes, int patch = 7) : base("SmallVit")
    {
        if (height % patch != 0 || width % patch != 0)
            throw new ConceptSuite.Contracts.InvalidInputException("dataset", $"vit needs image sides divisible by the patch size {patch}, got {height}x{width}");
        _patch = patch;
        int tokens = (height / patch) * (width / patch);
        embed = nn.Linear(channels * patch * patch, Dim);
        cls = nn.Parameter(torch.randn(1, 1, Dim) * 0.02);
        pos = nn.Parameter(torch.randn(1, tokens + 1, Dim) * 0.02);
        layers = nn.ModuleList(
            nn.TransformerEncoderLayer(Dim, 4, 128, 0.0),
            nn.TransformerEncoderLayer(Dim, 4, 128, 0.0));
        norm = nn.LayerNorm(Dim);
        head = nn.Linear(Dim, classes);
        RegisterComponents();
    }

    /// <summary>The class token and the positions: N(0, 0.02²), as ViT's reference implementation.</summary>
    public void Initialize(Generator generator)
    {
        TorchRandom.Normal(cls, 0.02, generator);
        TorchRandom.Normal(pos, 0.02, generator);
    }

    public IReadOnlyList<string> TapNames => ["cls", "tokens", "logits"];

    /// <summary>Per-row tap shapes for <paramref name="s"/> (patch 7), in <see cref="TapNames"/> order.</summary>
    public static IReadOnlyList<(string Name, long[] Shape)> TapShapes(Methods.BackboneShape s, int patch = 7) =>
        [("cls", [Dim]), ("tokens", [1 + (s.Height / patch) * (s.Width / patch), Dim]), ("logits", [s.Classes])];

    public Dictionary<string, Tensor> Taps(Tensor x)
    {
        long n = x.shape[0], c = x.shape[1];
        // [N, C, H, W] → [N, patches, C·P·P]
        var p = x.unfold(2, _patch, _patch).unfold(3, _patch, _patch)         // N, C, h, w, P, P
            .permute(0, 2, 3, 1, 4, 5).reshape(n, -1, c * _patch * _patch);
        var t = torch.cat([cls.expand(n, -1, -1), embed.call(p)], 1) + pos;
        var s = t.transpose(0, 1);                                              // layers take [S, N, E]
        foreach (var layer in layers) s = layer.call(s);
        var tokens = norm.call(s.transpose(0, 1));
        var first = tokens.select(1, 0);
        return new() { ["cls"] = first, ["tokens"] = tokens, ["logits"] = head.call(first) };
    }

    public override Tensor forward(Tensor x) => Taps(x)["logits"];
}
