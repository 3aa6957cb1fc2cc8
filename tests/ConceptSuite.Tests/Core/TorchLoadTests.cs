using TorchSharp;

namespace ConceptSuite.Tests.Core;

public class TorchLoadTests
{
    [Fact]
    public void TensorArithmeticRunsOnThisPlatform()
    {
        using var a = torch.tensor(new float[] { 1, 2, 3, 4 }).reshape(2, 2);
        using var b = a.matmul(a) + 1;
        Assert.Equal(new float[] { 8, 11, 16, 23 }, b.data<float>().ToArray());
    }
}

public sealed class TorchRuntimeTests
{
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "getenv")]
    static extern IntPtr GetEnv(string name);

    [Fact]
    public void TheShortSpinIsInTheNativeEnvironmentUnlessTheOperatorChoseOne()
    {
        var settings = ConceptSuite.Core.Hosting.TorchRuntime.Configure();
        var native = System.Runtime.InteropServices.Marshal.PtrToStringAnsi(GetEnv("GOMP_SPINCOUNT"));
        if (settings.ShortSpin) Assert.Equal(ConceptSuite.Core.Hosting.OpenMpThreads.SpinCount, native);
        else Assert.True(!string.IsNullOrEmpty(native) || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OMP_WAIT_POLICY")));
        // A second call changes nothing and reports the same.
        Assert.Equal(settings, ConceptSuite.Core.Hosting.TorchRuntime.Configure());
    }

    [Fact]
    public void OneDnnIsOffUnlessTheOperatorKeepsIt()
    {
        bool kept = Environment.GetEnvironmentVariable(ConceptSuite.Core.Hosting.TorchRuntime.OneDnnVariable) == "1";
        Assert.Equal(kept, ConceptSuite.Core.Hosting.TorchRuntime.Configure().OneDnn);
    }
}
