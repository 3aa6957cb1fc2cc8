using TorchSharp;

namespace ConceptSuite.Core.Streaming;

/// <summary>
/// The one place tensor work meets async code. TorchSharp's dispose scopes are thread-static: a
/// scope left open across an <c>await</c> stays current on its thread while that thread serves
/// other requests, collects their tensors and disposes them when it closes. So tensor work runs
/// synchronously inside <see cref="Run{T}"/> or <see cref="Keep"/>, and what outlives the scope is
/// detached from it and owned by the caller. <c>Core/DisposeScopeAwaitTests</c> scans the source
/// for scopes held across an await.
/// </summary>
public static class TensorScope
{
    /// <summary>Runs <paramref name="work"/> in a fresh scope; every tensor it made is freed on return.</summary>
    public static T Run<T>(Func<T> work)
    {
        using var scope = torch.NewDisposeScope();
        return work();
    }

    /// <summary>Runs <paramref name="work"/> in a fresh scope and keeps only its result (the caller disposes it).</summary>
    public static torch.Tensor Keep(Func<torch.Tensor> work)
    {
        using var scope = torch.NewDisposeScope();
        return work().DetachFromDisposeScope();
    }

    /// <summary>As <see cref="Keep"/> for several named results.</summary>
    public static IReadOnlyList<NamedTensor> KeepAll(Func<IEnumerable<NamedTensor>> work)
    {
        using var scope = torch.NewDisposeScope();
        var kept = new List<NamedTensor>();
        foreach (var r in work()) kept.Add(r with { Tensor = r.Tensor.DetachFromDisposeScope() });
        return kept;
    }
}

/// <summary>A named result tensor with optional row ids (one per row).</summary>
public sealed record NamedTensor(string Name, torch.Tensor Tensor, IReadOnlyList<string>? Ids = null);
