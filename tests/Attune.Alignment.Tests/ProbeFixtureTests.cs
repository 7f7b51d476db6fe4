using Attune.Alignment.Probe;

namespace Attune.Alignment.Tests;

/// <summary>The probe against the reference stack's <c>dpo</c> entries of the fixtures (llama, qwen2, qwen3).</summary>
[Collection("torch")]
public sealed class ProbeFixtureTests
{
    public static TheoryData<string> Architectures => new() { "llama", "qwen2", "qwen3" };

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Probe_reproduces_the_fixture_dpo_entries(string arch)
    {
        foreach (var entry in Fixtures.Expected(arch).GetProperty("dpo").EnumerateArray())
        {
            double E(string name) => entry.GetProperty(name).GetDouble();
            var result = ProbeRunner.Run(Fixtures.Model(arch), Fixtures.Model(arch, "reference"), Fixtures.Tokenizer,
                entry.GetProperty("prompt").GetString()!, entry.GetProperty("chosen").GetString()!, entry.GetProperty("rejected").GetString()!,
                new ProbeOptions { Loss = "dpo", LossOptions = new() { Beta = E("beta") } });
            Assert.Equal(E("policy_chosen_logp"), result.PolicyChosenLogp, 1e-4);
            Assert.Equal(E("policy_rejected_logp"), result.PolicyRejectedLogp, 1e-4);
            Assert.Equal(E("ref_chosen_logp"), result.RefChosenLogp!.Value, 1e-4);
            Assert.Equal(E("ref_rejected_logp"), result.RefRejectedLogp!.Value, 1e-4);
            Fixtures.AssertRelative(E("loss_sigmoid"), result.LossSigmoid!.Value, 1e-5, "loss_sigmoid");
            Fixtures.AssertRelative(E("loss_ipo"), result.LossIpo!.Value, 1e-5, "loss_ipo");
            Fixtures.AssertRelative(E("loss_sigmoid"), result.LossValue, 1e-5, "loss");
            Fixtures.AssertRelative(E("grad_chosen_norm"), result.GradChosenNorm, 1e-3, "grad_chosen_norm");
            Fixtures.AssertRelative(E("grad_rejected_norm"), result.GradRejectedNorm, 1e-3, "grad_rejected_norm");
            Fixtures.AssertRelative(E("grad_inner"), result.GradInner, 1e-3, "grad_inner");
            Fixtures.AssertRelative(E("grad_cosine"), result.GradCosine, 1e-3, "grad_cosine");
            Fixtures.AssertRelative(E("grad_loss_norm"), result.GradLossNorm, 1e-3, "grad_loss_norm");
            // DPO's rule: chosen rises iff ⟨g_w,g_l⟩ < ‖g_w‖², rejected falls iff ⟨g_w,g_l⟩ < ‖g_l‖².
            Assert.Equal(E("grad_inner") < E("grad_chosen_norm") * E("grad_chosen_norm"), result.ChosenRises);
            Assert.Equal(E("grad_inner") < E("grad_rejected_norm") * E("grad_rejected_norm"), result.RejectedFalls);
            Assert.Equal(1.0, result.Ratio!.Value, 1e-5);
        }
    }
}
