using ConceptSuite.Core.Security;
using Grpc.Core;

namespace ConceptSuite.Core.Artifacts;

/// <summary>
/// Which artifact kinds a caller may upload. Stages build modules or render pages from the
/// stage-produced kinds (a backbone's layer sizes, a registered model's file and taps, a dictionary's atoms, a generator's network,
/// a data set's image header, a report read into the atlas), so only the suite's own processes —
/// callers holding a stage key, or the process itself — write them through PutArtifact; a
/// client uploads data (<c>activations</c>, or a kind of its own) and trains the rest through
/// the stages' RPCs.
/// </summary>
public static class ArtifactKinds
{
    /// <summary>Kinds written by stages and the gateway only.</summary>
    public static readonly IReadOnlySet<string> StageProduced = new HashSet<string>(StringComparer.Ordinal)
    {
        "backbone", "model", "dataset", "dictionary", "bottleneck", "generator", "report", "atlas", "concept-names",
    };

    /// <summary>
    /// Refuses (PERMISSION_DENIED naming <c>header.kind</c>) an upload of a stage-produced kind
    /// by a caller that is not a peer.
    /// </summary>
    public static void CheckUpload(string kind, ServerCallContext context)
    {
        if (StageProduced.Contains(kind) && CallerRole.Of(context) != Role.Peer)
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                $"header.kind: '{kind}' artifacts are written only by the suite's stages (a stage key); upload data as 'activations' " +
                "and make one through the stage that trains it"));
    }
}
