using System.Text;
using ConceptSuite.Contracts;

namespace ConceptSuite.Core.Limits;

/// <summary>
/// Paged list calls (ListArtifacts, ListWorkflows): the page size a request asks for, checked
/// against a maximum, and opaque page tokens that carry the position after the last row of a page
/// (a sort key and an id). A token the server did not issue is INVALID_ARGUMENT naming page_token.
/// </summary>
public static class Paging
{
    /// <summary>Longest page token accepted, characters (issued ones are well under it).</summary>
    public const int MaxTokenChars = 512;

    const string Version = "p1";

    /// <summary><paramref name="requested"/>, or <paramref name="fallback"/> when 0; INVALID_ARGUMENT when negative or over <paramref name="max"/>.</summary>
    public static int Size(int requested, int fallback, int max, string field = "page_size")
    {
        if (requested < 0) throw new InvalidInputException(field, $"must be >= 0 (0: the default, {fallback})");
        if (requested > max) throw new InvalidInputException(field, $"{requested} is over the maximum of {max}");
        return requested == 0 ? fallback : requested;
    }

    /// <summary>A token for the position after a row with this sort key and id.</summary>
    public static string Token(string key, string id) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes($"{Version}\n{key}\n{id}")).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>The (sort key, id) a token carries; null for an empty token (the first page).</summary>
    public static (string Key, string Id)? Parse(string token, string field = "page_token")
    {
        if (string.IsNullOrEmpty(token)) return null;
        const string rule = "is not a token this server issued (pass next_page_token unchanged, or empty for the first page)";
        if (token.Length > MaxTokenChars) throw new InvalidInputException(field, rule);
        var b64 = token.Replace('-', '+').Replace('_', '/');
        b64 = b64.PadRight(b64.Length + (4 - b64.Length % 4) % 4, '=');
        string text;
        try { text = new UTF8Encoding(false, true).GetString(Convert.FromBase64String(b64)); }
        catch (FormatException) { throw new InvalidInputException(field, rule); }
        catch (ArgumentException) { throw new InvalidInputException(field, rule); }
        var parts = text.Split('\n');
        if (parts.Length != 3 || parts[0] != Version || parts[1].Length == 0 || parts[2].Length == 0) throw new InvalidInputException(field, rule);
        return (parts[1], parts[2]);
    }
}
