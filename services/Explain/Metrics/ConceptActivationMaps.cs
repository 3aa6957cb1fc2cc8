using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Metrics;

/// <summary>
/// Concept activation maps for spatial taps (Aysel, Cai and Prügel-Bennett 2025, "Concept-Based
/// Explainable Artificial Intelligence: Metrics and Benchmarks", concept activation mapping):
/// for activations A [N, D, h, w] and a concept direction v_k [D], the patch-resolution map is
/// m_k(p) = max(0, ⟨v_k, A(p)⟩) (the concept's coefficient at each patch), bilinearly upsampled
/// to the image [H, W] and scaled so each map's maximum is 1 (all-zero maps stay zero).
/// </summary>
public static class ConceptActivationMaps
{
    /// <summary>Maps [N, K', H, W] for the concepts listed (all when <paramref name="concepts"/> is empty).</summary>
    public static Tensor Compute(Tensor activations, Tensor conceptBank, long[] concepts, long height, long width)
    {
        if (activations.dim() != 4) throw new Contracts.InvalidInputException("activations", $"expected spatial activations [N, D, h, w], got rank {activations.dim()}");
        if (conceptBank.dim() != 2 || conceptBank.shape[1] != activations.shape[1])
            throw new Contracts.InvalidInputException("dictionary", $"expected [K, {activations.shape[1]}] to match the activations' channels");
        if (height < 1 || width < 1) throw new Contracts.InvalidInputException("image_size", "height and width must be positive");
        long k = conceptBank.shape[0];
        foreach (var c in concepts)
            if (c < 0 || c >= k) throw new Contracts.InvalidInputException("concepts", $"concept {c} is outside [0, {k})");
        using var scope = torch.NewDisposeScope();
        var bank = conceptBank.to_type(ScalarType.Float64);
        if (concepts.Length > 0) bank = bank.index_select(0, torch.tensor(concepts));
        var a = activations.to_type(ScalarType.Float64);
        var patch = torch.nn.functional.relu(torch.einsum("ndhw,kd->nkhw", a, bank));
        return Upsample(patch, height, width).MoveToOuterDisposeScope();
    }

    /// <summary>Bilinear upsampling of patch maps [N, K, h, w] to [N, K, H, W], each map scaled to max 1.</summary>
    public static Tensor Upsample(Tensor patchMaps, long height, long width)
    {
        var up = torch.nn.functional.interpolate(patchMaps.to_type(ScalarType.Float64), [height, width], mode: InterpolationMode.Bilinear, align_corners: false);
        var max = up.amax([2, 3], keepdim: true);
        return torch.where(max > 0, up / max.clamp_min(1e-300), torch.zeros_like(up));
    }
}
