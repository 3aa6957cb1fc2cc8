using ConceptSuite.Contracts;
using ConceptSuite.Core.Streaming;
using TorchSharp;

namespace ConceptSuite.Embedding.Models;

/// <summary>A backbone's taps: which a request asks for, and their shapes.</summary>
public static class BackboneTaps
{
    /// <summary>
    /// The taps of a request, checked against the model (NOT_FOUND for a tap it lacks,
    /// INVALID_ARGUMENT for one named twice); the model's default tap when none.
    /// </summary>
    public static List<string> Resolve(this IBackbone backbone, IReadOnlyList<string> requested, string field)
    {
        if (requested.Count == 0) return [backbone.Taps[0].Name];
        var taps = new List<string>();
        for (int i = 0; i < requested.Count; i++)
        {
            if (!backbone.HasTap(requested[i])) throw new NotFoundException($"tap of model {backbone.Name} ({field}[{i}])", requested[i]);
            if (taps.Contains(requested[i])) throw new InvalidInputException($"{field}[{i}]", $"tap '{requested[i]}' is named twice");
            taps.Add(requested[i]);
        }
        return taps;
    }

    /// <summary>
    /// The taps <paramref name="names"/> with their per-row shapes, read off one forward pass of a
    /// black image (for networks that do not declare their shapes).
    /// </summary>
    public static List<TapSpec> ProbeTaps(this IBackbone backbone, IReadOnlyList<string> names, Func<string, string> source) =>
        TensorScope.Run(() =>
        {
            var outs = backbone.Forward(torch.zeros(1, backbone.Input.Channels, backbone.Input.Height, backbone.Input.Width), names);
            return names.Select(t => new TapSpec(t, outs[t].shape.Skip(1).ToArray(), source(t))).ToList();
        });
}
