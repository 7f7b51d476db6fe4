using TorchSharp;

namespace Attune.Torch.Tests;

public class NativeLoadTests
{
    [Fact]
    public void Libtorch_loads_and_multiplies()
    {
        using var a = torch.tensor(new float[] { 1, 2, 3, 4 }).reshape(2, 2);
        using var b = a.matmul(a);
        Assert.Equal([7f, 10f, 15f, 22f], b.data<float>().ToArray());
    }
}
