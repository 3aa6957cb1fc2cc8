using System.Runtime.InteropServices;

namespace ConceptSuite.Core.Hosting;

/// <summary>What <see cref="TorchRuntime.Configure"/> set for this process.</summary>
/// <param name="ShortSpin">The short OpenMP idle spin was set (false: the environment decides).</param>
/// <param name="OneDnn">libtorch's oneDNN (MKL-DNN) CPU kernels are enabled.</param>
public sealed record TorchRuntimeSettings(bool ShortSpin, bool OneDnn);

/// <summary>
/// The process-wide libtorch settings of every suite process (server, CLI, benchmarks, tests),
/// applied once, before the first tensor operation:
/// <list type="bullet">
/// <item>the short OpenMP idle spin (<see cref="OpenMpThreads"/>), which must precede libtorch's load;</item>
/// <item>oneDNN's CPU kernels off. With them, two threads training convolutional models at once
/// (two jobs of one stage, or a job and a request) get NaN gradients: measured on the tiny
/// generator, the first backward pass gave NaN in the GroupNorm before the output convolution and
/// everything above it, in 4 of 7 paired runs; 0 of 8 with oneDNN off. libtorch's own convolution
/// kernels then serve CPU convolutions; CUDA convolutions are unaffected. An operator who runs one
/// job at a time may set <c>CONCEPTSUITE_ONEDNN=1</c> to keep oneDNN.</item>
/// </list>
/// </summary>
public static class TorchRuntime
{
    /// <summary>Environment variable that keeps oneDNN enabled ("1").</summary>
    public const string OneDnnVariable = "CONCEPTSUITE_ONEDNN";

    static readonly Lazy<TorchRuntimeSettings> Applied = new(Apply, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Applies the settings on the first call; later calls return what the first set.</summary>
    public static TorchRuntimeSettings Configure() => Applied.Value;

    static TorchRuntimeSettings Apply()
    {
        bool shortSpin = OpenMpThreads.Configure();
        bool oneDnn = Environment.GetEnvironmentVariable(OneDnnVariable) == "1";
        if (!oneDnn && OperatingSystem.IsLinux())
        {
            SetUserEnabledMkldnn(GlobalContext(), false);
            oneDnn = UserEnabledMkldnn(GlobalContext());
        }
        return new TorchRuntimeSettings(shortSpin, oneDnn);
    }

    // at::globalContext() and at::Context::{set,}UserEnabledMkldnn, exported by libtorch_cpu (Itanium
    // C++ names: Linux builds, which are what the suite ships; the member functions take the context first).
    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at13globalContextEv")]
    static extern IntPtr GlobalContext();

    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at7Context20setUserEnabledMkldnnEb")]
    static extern void SetUserEnabledMkldnn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [DllImport("libtorch_cpu", EntryPoint = "_ZNK2at7Context17userEnabledMkldnnEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    static extern bool UserEnabledMkldnn(IntPtr context);
}
