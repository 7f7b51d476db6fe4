using Attune.Torch.Models;
using TorchSharp;
using static TorchSharp.torch;

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

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Response_log_probs_match_in_a_batch(string arch)
    {
        var tok = ReferenceTokens(arch);
        foreach (var which in new[] { "policy", "reference" })
        {
            using var model = CausalLM.Load(Fixtures.Model(arch, which));
            using var noGrad = no_grad();
            var pairs = tok.SelectMany(p => new[] { new SequencePair(p.Prompt, p.Chosen), new SequencePair(p.Prompt, p.Rejected) }).ToList();
            using var logps = LogProbs.Response(model, pairs);
            var sums = logps.Sum.data<float>().ToArray();
            var dpo = Fixtures.Expected(arch).GetProperty("dpo").EnumerateArray().ToList();
            var prefix = which == "policy" ? "policy" : "ref";
            for (var i = 0; i < dpo.Count; i++)
            {
                Assert.Equal(dpo[i].GetProperty($"{prefix}_chosen_logp").GetDouble(), sums[2 * i], 1e-4);
                Assert.Equal(dpo[i].GetProperty($"{prefix}_rejected_logp").GetDouble(), sums[(2 * i) + 1], 1e-4);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void One_sgd_step_on_the_dpo_loss_matches(string arch)
    {
        var expected = Fixtures.Expected(arch);
        var step = expected.GetProperty("after_one_sgd_step");
        var pairIndex = step.GetProperty("pair").GetInt32();
        var fixturePair = expected.GetProperty("dpo")[pairIndex];
        var pair = ReferenceTokens(arch)[pairIndex];
        var beta = fixturePair.GetProperty("beta").GetDouble();
        var lr = step.GetProperty("lr").GetDouble();

        using var model = CausalLM.Load(Fixtures.Model(arch));
        var parameters = model.StateDict().Values.ToList();
        using (var scope = NewDisposeScope())
        {
            var logps = LogProbs.Response(model, [new(pair.Prompt, pair.Chosen), new(pair.Prompt, pair.Rejected)]).Sum;
            var h = (logps[0] - fixturePair.GetProperty("ref_chosen_logp").GetDouble()) - (logps[1] - fixturePair.GetProperty("ref_rejected_logp").GetDouble());
            var loss = -nn.functional.logsigmoid(h * beta);
            Assert.Equal(fixturePair.GetProperty("loss_sigmoid").GetDouble(), loss.item<float>(), 1e-5);
            loss.backward();
            using var noGrad = no_grad();
            foreach (var p in parameters)
            {
                p.sub_(p.grad! * lr);
            }
        }

        using (var noGrad = no_grad())
        {
            using var after = LogProbs.Response(model, [new(pair.Prompt, pair.Chosen), new(pair.Prompt, pair.Rejected)]);
            Assert.Equal(step.GetProperty("chosen_logp").GetDouble(), after.Sum[0].item<float>(), 1e-4);
            Assert.Equal(step.GetProperty("rejected_logp").GetDouble(), after.Sum[1].item<float>(), 1e-4);
        }
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Gradients_of_chosen_and_rejected_log_probs_match(string arch)
    {
        var dpo = Fixtures.Expected(arch).GetProperty("dpo")[0];
        var pair = ReferenceTokens(arch)[0];
        using var model = CausalLM.Load(Fixtures.Model(arch));
        var gw = Gradient(model, new SequencePair(pair.Prompt, pair.Chosen));
        var gl = Gradient(model, new SequencePair(pair.Prompt, pair.Rejected));
        double nw = Math.Sqrt(gw.Sum(x => (double)x * x)), nl = Math.Sqrt(gl.Sum(x => (double)x * x));
        var inner = gw.Zip(gl).Sum(p => (double)p.First * p.Second);
        AssertRelative(dpo.GetProperty("grad_chosen_norm").GetDouble(), nw, 1e-3);
        AssertRelative(dpo.GetProperty("grad_rejected_norm").GetDouble(), nl, 1e-3);
        AssertRelative(dpo.GetProperty("grad_inner").GetDouble(), inner, 1e-3);
        AssertRelative(dpo.GetProperty("grad_cosine").GetDouble(), inner / (nw * nl), 1e-3);
    }

    private static float[] Gradient(CausalLM model, SequencePair pair)
    {
        model.zero_grad();
        using var scope = NewDisposeScope();
        LogProbs.Response(model, [pair]).Sum[0].backward();
        return [.. model.StateDict().Values.SelectMany(p => p.grad!.data<float>().ToArray())];
    }

    private static void AssertRelative(double expected, double actual, double tolerance) =>
        Assert.True(Math.Abs(expected - actual) <= tolerance * Math.Abs(expected), $"expected {expected}, got {actual}");

    /// <summary>
    /// The DPO pairs' token ids, as the fixtures define them: ids(prompt) + ids(response), each
    /// encoded separately. The prompts are the greedy prompts' ids (same text), the responses are
    /// taken from the tokenizer fixture's expectations.
    /// </summary>
    private static List<(int[] Prompt, int[] Chosen, int[] Rejected)> ReferenceTokens(string arch)
    {
        var expected = Fixtures.Expected(arch);
        var tokenizer = Attune.Torch.Tokenizers.AutoTokenizer.Load(Path.Combine(Fixtures.Root, "hf-tiny", "tokenizer.json"));
        return [.. expected.GetProperty("dpo").EnumerateArray().Select(p => (
            tokenizer.Encode(p.GetProperty("prompt").GetString()!),
            tokenizer.Encode(p.GetProperty("chosen").GetString()!),
            tokenizer.Encode(p.GetProperty("rejected").GetString()!)))];
    }
}
