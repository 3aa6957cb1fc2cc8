using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Generate.Model;

/// <summary>
/// What the denoiser is conditioned on: one text context, or several regional contexts whose
/// cross-attention outputs are fused inside their spatial masks (Concept Conductor's feature
/// fusion): out = Σ_r m_r ⊙ Attn(h, ctx_r), masks [R,H,W] summing to one at every pixel.
/// </summary>
public sealed class Conditioning
{
    Conditioning(IReadOnlyList<TextContext> contexts, Tensor? masks) { Contexts = contexts; RegionMasks = masks; }

    public IReadOnlyList<TextContext> Contexts { get; }
    /// <summary>Null for a single context; else [R,H,W] float at image resolution.</summary>
    public Tensor? RegionMasks { get; }

    public static Conditioning Single(TextContext ctx) => new([ctx], null);

    public static Conditioning Regional(IReadOnlyList<TextContext> contexts, Tensor masks)
    {
        if (masks.shape[0] != contexts.Count) throw new ArgumentException("one mask per context");
        return new Conditioning(contexts, masks);
    }
}
