using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using TorchSharp;

namespace ConceptSuite.Core.Tensors;

/// <summary>
/// Maps a region of a managed byte array into a CPU tensor of any dtype without copying: the
/// array is pinned for the tensor's lifetime and released by libtorch's deleter. (TorchSharp's
/// own <c>torch.frombuffer</c> types the tensor by the array's element type and then converts
/// values, which copies and reinterprets nothing; this calls the same native entry point with
/// the target dtype.)
/// </summary>
internal static class PinnedBuffers
{
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    delegate void Deleter(IntPtr memory);

    [DllImport("LibTorchSharp")]
    static extern IntPtr THSTensor_frombuffer(IntPtr rawArray, Deleter deleter, long count, long offset, sbyte scalarType,
        sbyte dtype, int deviceType, int deviceIndex, [MarshalAs(UnmanagedType.U1)] bool requiresGrad);

    // Delegates handed to native code must stay reachable until native code calls them.
    static readonly ConcurrentDictionary<Deleter, byte> Live = new();

    static PinnedBuffers() => torch.InitializeDeviceType(DeviceType.CPU);

    /// <param name="byteOffset">Start of the tensor in the array (aligned to the element size).</param>
    /// <param name="count">Number of elements of <paramref name="type"/>.</param>
    /// <param name="freed">Called once after libtorch frees the tensor's storage and the array is unpinned
    /// (not called when this throws).</param>
    public static torch.Tensor Wrap(byte[] array, int byteOffset, long count, torch.ScalarType type, Action? freed = null)
    {
        var pin = GCHandle.Alloc(array, GCHandleType.Pinned);
        Deleter? deleter = null;
        deleter = _ =>
        {
            pin.Free();
            Live.TryRemove(deleter!, out byte _);
            freed?.Invoke();
        };
        Live[deleter] = 0;
        var handle = THSTensor_frombuffer(pin.AddrOfPinnedObject(), deleter, count, byteOffset, (sbyte)type, (sbyte)type, 0, -1, false);
        if (handle == IntPtr.Zero)
        {
            Live.TryRemove(deleter, out byte _);
            pin.Free();
            throw new InvalidOperationException($"libtorch could not map {count} {type} elements of a {array.Length}-byte buffer");
        }
        return torch.Tensor.UnsafeCreateTensor(handle);
    }
}
