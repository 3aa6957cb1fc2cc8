using System.Security.Cryptography;
using System.Text;
using ConceptSuite.Contracts;

namespace ConceptSuite.Core.Artifacts;

/// <summary>Content ids: 64 lowercase hex characters (sha256). Checked before any path is built.</summary>
public static class ArtifactId
{
    public static bool IsValid(string? id)
    {
        if (id is null || id.Length != 64) return false;
        foreach (var c in id) if (!(c is >= '0' and <= '9' or >= 'a' and <= 'f')) return false;
        return true;
    }

    /// <summary>Throws INVALID_ARGUMENT naming <paramref name="field"/> unless the id is well formed.</summary>
    public static string Check(string? id, string field = "id")
    {
        if (string.IsNullOrEmpty(id)) throw new InvalidInputException(field, "is required");
        if (!IsValid(id)) throw new InvalidInputException(field, "must be 64 lowercase hex characters (a sha256 content id)");
        return id;
    }

    /// <summary>sha256 of the UTF-8 parts, each length-prefixed (so ("ab","c") ≠ ("a","bc")).</summary>
    public static string Of(params string[] parts)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var p in parts)
        {
            var b = Encoding.UTF8.GetBytes(p);
            h.AppendData(BitConverter.GetBytes((long)b.Length));
            h.AppendData(b);
        }
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }
}
