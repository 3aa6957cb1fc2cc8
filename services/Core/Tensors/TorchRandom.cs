using TorchSharp;

namespace ConceptSuite.Core.Tensors;

/// <summary>
/// libtorch's default generator is one per process, and TorchSharp's modules draw their initial
/// weights from it. A job that seeds it and then builds a module gets the weights its seed promises
/// only if no other thread draws in between (another job building a module, a test, a load that
/// builds a module before reading its weights). Every construction that draws from the default
/// generator goes through this one gate; everything else draws from a generator it owns.
/// </summary>
public static class TorchRandom
{
    static readonly object Gate = new();

    /// <summary>Seeds the default generator and runs <paramref name="build"/>, with no other draw in between.</summary>
    public static T Seeded<T>(long seed, Func<T> build)
    {
        lock (Gate)
        {
            torch.manual_seed(seed);
            return build();
        }
    }

    /// <summary>Runs a construction whose draws do not matter (its weights are overwritten next) inside the gate.</summary>
    public static T Unseeded<T>(Func<T> build)
    {
        lock (Gate) return build();
    }
}
