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
