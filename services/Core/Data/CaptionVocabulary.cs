namespace ConceptSuite.Core.Data;

/// <summary>The words of a caption set that can name a concept.</summary>
public static class CaptionVocabulary
{
    /// <summary>
    /// The words a caption set can name: every word (split at spaces, commas and slashes, lower
    /// case) that some captions say and others do not — the template words every caption shares
    /// ("a", "photo", "of", "background") carry nothing a concept could detect. In first-seen order.
    /// </summary>
    public static List<string> Words(IReadOnlyList<string> captions)
    {
        var count = new Dictionary<string, int>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var c in captions)
            foreach (var w in c.ToLowerInvariant().Split([' ', ',', '/'], StringSplitOptions.RemoveEmptyEntries).Distinct(StringComparer.Ordinal))
            {
                if (!count.TryGetValue(w, out var n)) order.Add(w);
                count[w] = n + 1;
            }
        return order.Where(w => count[w] < captions.Count).ToList();
    }
}
