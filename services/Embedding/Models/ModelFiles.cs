using ConceptSuite.Contracts;

namespace ConceptSuite.Embedding.Models;

/// <summary>Resolves model file paths so that they can never leave the model directory.</summary>
public static class ModelFiles
{
    /// <summary>
    /// The full path of <paramref name="relative"/> inside <paramref name="root"/>; rejects absolute
    /// paths, "..", and links whose target lies outside the root.
    /// </summary>
    public static string Confine(string root, string relative, string field)
    {
        if (string.IsNullOrWhiteSpace(relative)) throw new InvalidInputException(field, "is required");
        if (Path.IsPathRooted(relative)) throw new InvalidInputException(field, $"'{relative}' must be relative to the model directory");
        var full = Path.GetFullPath(Path.Combine(root, relative));
        var rootFull = Path.GetFullPath(root).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        if (!full.StartsWith(rootFull, StringComparison.Ordinal))
            throw new InvalidInputException(field, $"'{relative}' lies outside the model directory");
        if (!File.Exists(full)) throw new NotFoundException($"model file ({field})", relative);
        var target = new FileInfo(full).ResolveLinkTarget(true);
        if (target is not null && !Path.GetFullPath(target.FullName).StartsWith(rootFull, StringComparison.Ordinal))
            throw new InvalidInputException(field, $"'{relative}' links outside the model directory");
        return full;
    }
}
