using Attune.Torch.Models;

namespace Attune.Torch.Tests;

/// <summary>Generation, log-probs and one training step against the reference stack.</summary>
public class RunningModelTests
{
    public static TheoryData<string> Architectures => new() { "llama", "qwen2", "qwen3" };

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Greedy_continuations_match_with_and_without_the_cache(string arch)
    {
        using var model = CausalLM.Load(Fixtures.Model(arch));
        foreach (var item in Fixtures.Expected(arch).GetProperty("greedy").EnumerateArray())
        {
            var prompt = Fixtures.Longs(item.GetProperty("prompt_ids")).Select(x => (int)x).ToArray();
            var expected = Fixtures.Longs(item.GetProperty("new_ids")).Select(x => (int)x).ToArray();
            foreach (var cached in new[] { true, false })
            {
                var options = new GenerationOptions { Greedy = true, MaxNewTokens = expected.Length, UseCache = cached };
                var got = Generation.Generate(model, [prompt], options)[0];
                Assert.Equal(expected, got.NewIds);
                Assert.Equal("max_tokens", got.StopReason);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void A_left_padded_batch_generates_what_each_prompt_generates_alone(string arch)
    {
        using var model = CausalLM.Load(Fixtures.Model(arch));
        var items = Fixtures.Expected(arch).GetProperty("greedy").EnumerateArray().ToList();
        var prompts = items.Select(i => Fixtures.Longs(i.GetProperty("prompt_ids")).Select(x => (int)x).ToArray()).ToList();
        prompts[1] = prompts[1][..^3]; // make the lengths differ so padding is exercised
        var options = new GenerationOptions { Greedy = true, MaxNewTokens = 8 };
        var batch = Generation.Generate(model, prompts, options);
        for (var i = 0; i < prompts.Count; i++)
        {
            Assert.Equal(Generation.Generate(model, [prompts[i]], options)[0].NewIds, batch[i].NewIds);
        }
    }

}
