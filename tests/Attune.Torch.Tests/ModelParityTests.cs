using Attune.Torch.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Attune.Torch.Tests;

/// <summary>Logits of the port against the reference stack's, number for number.</summary>
public class ModelParityTests
{
    public static TheoryData<string> Architectures => new() { "llama", "qwen2", "qwen3" };

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Logits_match_the_reference(string arch)
    {
        using var model = CausalLM.Load(Fixtures.Model(arch));
        model.eval();
        foreach (var item in Fixtures.Expected(arch).GetProperty("logits").EnumerateArray())
        {
            using var scope = NewDisposeScope();
            var ids = tensor(Fixtures.Longs(item.GetProperty("ids"))).unsqueeze(0);
            using var noGrad = no_grad();
            var logits = model.Forward(ids)[0];
            Assert.Equal(Fixtures.Longs(item.GetProperty("shape")), logits.shape);
            AssertClose(Fixtures.Floats(item.GetProperty("first_row")), logits[0].data<float>().ToArray(), 1e-4);
            AssertClose(Fixtures.Floats(item.GetProperty("last_row")), logits[-1].data<float>().ToArray(), 1e-4);
            Assert.Equal(item.GetProperty("sum").GetDouble(), logits.sum().item<float>(), 1e-3);
            Assert.Equal(item.GetProperty("abs_sum").GetDouble(), logits.abs().sum().item<float>(), 1e-2);
        }
    }

    internal static void AssertClose(float[] expected, float[] actual, double tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        var worst = expected.Zip(actual).Max(p => Math.Abs(p.First - p.Second));
        Assert.True(worst <= tolerance, $"largest difference {worst:E3} exceeds {tolerance:E1}");
    }
}
