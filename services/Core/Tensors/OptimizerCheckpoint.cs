using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ConceptSuite.Core.Tensors;

/// <summary>
/// An optimiser's full state (per-parameter moments and step counts, and its options) as one
/// uint8 tensor, so it travels in a job checkpoint with the weights and is covered by the
/// checkpoint's checksum. A training job that restores its weights, its optimiser and its position
/// in the data order continues bit for bit as if it had never stopped; restoring the weights alone
/// restarts Adam's moments and bias correction, and the resumed fit differs.
/// </summary>
public static class OptimizerCheckpoint
{
    /// <summary>The checkpoint entry name jobs use for it.</summary>
    public const string Key = "optimizer";

    /// <summary>The state of <paramref name="optimizer"/> as a 1-D uint8 CPU tensor (TorchSharp's own state format).</summary>
    public static Tensor Save(OptimizerHelper optimizer)
    {
        using var bytes = new MemoryStream();
        using (var writer = new BinaryWriter(bytes, System.Text.Encoding.UTF8, leaveOpen: true))
            optimizer.save_state_dict(writer);
        return tensor(bytes.ToArray());
    }

    /// <summary>
    /// Loads a state written by <see cref="Save"/> into <paramref name="optimizer"/>, built over the
    /// same parameters in the same order (the moments are copied onto the parameters' device).
    /// A state of another shape is InvalidDataException (a checkpoint of other content).
    /// </summary>
    public static void Restore(OptimizerHelper optimizer, Tensor state)
    {
        if (state.dtype != ScalarType.Byte || state.dim() != 1) throw new InvalidDataException("the optimizer state is not a 1-D uint8 tensor");
        var bytes = state.contiguous().data<byte>().ToArray();
        using var reader = new BinaryReader(new MemoryStream(bytes, writable: false));
        try
        {
            using var _ = no_grad();
            optimizer.load_state_dict(reader);
        }
        catch (Exception e) when (e is EndOfStreamException or ArgumentException or InvalidOperationException)
        {
            throw new InvalidDataException($"the optimizer state does not fit this optimizer: {e.Message}", e);
        }
        if (reader.BaseStream.Position != bytes.Length) throw new InvalidDataException("the optimizer state has trailing bytes");
    }
}
