using ConceptSuite.Contracts;

namespace ConceptSuite.Embedding.Models;

/// <summary>Which taps of a backbone a request asks for.</summary>
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
}
