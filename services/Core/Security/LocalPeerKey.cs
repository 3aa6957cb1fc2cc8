using System.Security.Cryptography;

namespace ConceptSuite.Core.Security;

/// <summary>
/// A random key made when the process starts, known only to it: the gateway presents it on its
/// channel to its own process (all stages in one process), so that channel is a peer without any
/// configured stage key, and no caller outside the process can guess it.
/// </summary>
public sealed class LocalPeerKey
{
    public string Value { get; } = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
}
