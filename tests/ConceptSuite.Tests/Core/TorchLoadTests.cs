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

public sealed class OpenMpThreadsTests
{
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "getenv")]
    static extern IntPtr GetEnv(string name);

    [Fact]
    public void ConfigureSetsTheShortSpinInTheNativeEnvironmentUnlessTheOperatorChoseOne()
    {
        bool operatorChose = !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("GOMP_SPINCOUNT"))
            || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OMP_WAIT_POLICY"));
        bool set = ConceptSuite.Core.Hosting.OpenMpThreads.Configure();
        var native = System.Runtime.InteropServices.Marshal.PtrToStringAnsi(GetEnv("GOMP_SPINCOUNT"));
        if (operatorChose) Assert.False(set);
        else
        {
            Assert.True(set);
            Assert.Equal(ConceptSuite.Core.Hosting.OpenMpThreads.SpinCount, native);
        }
    }
}
