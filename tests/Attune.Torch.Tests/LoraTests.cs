using System.Text.Json;
using Attune.Core.Errors;
using Attune.Torch.Lora;
using Attune.Torch.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Attune.Torch.Tests;

/// <summary>PEFT adapters written by PEFT itself (Fixtures/hf-tiny-lora) against their expected logits.</summary>
public class LoraTests
{
    public static TheoryData<string> Adapters => new() { "llama", "qwen2" };

    [Theory]
    [MemberData(nameof(Adapters))]
    public void Peft_adapters_reproduce_the_expected_logits_active_and_merged(string arch)
    {
        var dir = Path.Combine(Fixtures.Root, "hf-tiny-lora", arch);
        var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected.json"))).RootElement;
        using var model = CausalLM.Load(Fixtures.Model(arch));
        var config = LoraAdapter.Load(model, dir);
        Assert.Equal(expected.GetProperty("r").GetInt32(), config.Rank);
        using var noGrad = no_grad();
        foreach (var item in expected.GetProperty("logits").EnumerateArray())
        {
            using var logits = Logits(model, Fixtures.Longs(item.GetProperty("ids")));
            ModelParityTests.AssertClose(Fixtures.Floats(item.GetProperty("last_row")), logits[-1].data<float>().ToArray(), 1e-4);
            Assert.Equal(item.GetProperty("sum").GetDouble(), logits.sum().item<float>(), 1e-3);
        }

        var fox = Fixtures.Longs(expected.GetProperty("logits")[0].GetProperty("ids"));
        LoraAdapter.Merge(model);
        using (var merged = Logits(model, fox))
        {
            ModelParityTests.AssertClose(Fixtures.Floats(expected.GetProperty("merged_last_row_quick_brown_fox")), merged[-1].data<float>().ToArray(), 1e-4);
        }

        // Unmerged with the adapter switched off in effect: back to the base model's logits.
        LoraAdapter.Unmerge(model);
        using var baseModel = CausalLM.Load(Fixtures.Model(arch));
        using var withAdapter = Logits(model, fox);
        using var plain = Logits(baseModel, fox);
        Assert.False(withAdapter.allclose(plain, rtol: 0, atol: 1e-4), "the adapter changes the logits");
    }

    [Fact]
    public void Merging_adds_exactly_the_dense_delta_and_unmerging_removes_it()
    {
        using var model = CausalLM.Load(Fixtures.Model("llama"));
        LoraAdapter.Attach(model, new LoraConfig { Rank = 2, Alpha = 6, TargetModules = ["q_proj", "down_proj"] }, seed: 1);
        var (path, projection) = model.Projections().First(p => p.Path.EndsWith("q_proj", StringComparison.Ordinal));
        using var noGrad = no_grad();
        projection.LoraB!.normal_(); // B starts at zero; give it values so the delta is not trivially zero
        using var before = projection.Weight.clone();
        // Hand-computed delta: (alpha / r) * B @ A.
        using var delta = projection.LoraB!.matmul(projection.LoraA!) * (6.0 / 2);
        LoraAdapter.Merge(model);
        Assert.True(projection.Weight.allclose(before + delta, rtol: 0, atol: 1e-6), path);
        LoraAdapter.Unmerge(model);
        Assert.True(projection.Weight.allclose(before, rtol: 0, atol: 1e-6), path);
    }

    [Fact]
    public void Saved_adapters_load_back_with_the_same_outputs()
    {
        using var dir = new TempDir();
        using var model = CausalLM.Load(Fixtures.Model("qwen2"));
        var config = new LoraConfig { Rank = 3, Alpha = 5, TargetModules = ["all-linear"] };
        var adapted = LoraAdapter.Attach(model, config, seed: 2);
        Assert.DoesNotContain(adapted, p => p.EndsWith("lm_head", StringComparison.Ordinal));
        using (no_grad())
        {
            foreach (var p in LoraAdapter.Parameters(model))
            {
                p.normal_(0, 0.1);
            }
        }

        LoraAdapter.Save(model, config, dir.Path);
        using var reloaded = CausalLM.Load(Fixtures.Model("qwen2"));
        LoraAdapter.Load(reloaded, dir.Path);
        using var noGrad = no_grad();
        using var a = Logits(model, [5, 6, 7, 8]);
        using var b = Logits(reloaded, [5, 6, 7, 8]);
        Assert.True(a.allclose(b, rtol: 0, atol: 1e-6));
        // The base checkpoint written by the model holds no adapter tensors.
        Assert.DoesNotContain(model.StateDict().Keys, k => k.Contains("lora", StringComparison.Ordinal));
    }

    [Fact]
    public void Freezing_leaves_only_adapters_trainable()
    {
        using var model = CausalLM.Load(Fixtures.Model("llama"));
        LoraAdapter.Attach(model, new LoraConfig { Rank = 2, TargetModules = ["v_proj"] }, seed: 3);
        LoraAdapter.FreezeBase(model);
        var trainable = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToList();
        Assert.Equal(4, trainable.Count); // 2 layers x (A, B)
        Assert.All(trainable, n => Assert.Contains("v_proj.lora_", n, StringComparison.Ordinal));
    }

    [Fact]
    public void Unsupported_or_mismatched_adapters_are_clear_errors()
    {
        using var dir = new TempDir();
        var source = Path.Combine(Fixtures.Root, "hf-tiny-lora", "llama");
        File.Copy(Path.Combine(source, LoraAdapter.WeightsFile), Path.Combine(dir.Path, LoraAdapter.WeightsFile));
        var config = File.ReadAllText(Path.Combine(source, LoraAdapter.ConfigFile));
        File.WriteAllText(Path.Combine(dir.Path, LoraAdapter.ConfigFile), config.Replace("\"use_dora\": false", "\"use_dora\": true", StringComparison.Ordinal));
        using var model = CausalLM.Load(Fixtures.Model("llama"));
        var ex = Assert.Throws<AttuneInputException>(() => LoraAdapter.Load(model, dir.Path));
        Assert.Equal("use_dora", ex.Field);

        // The config says r = 2 but the file holds rank-4 tensors.
        File.WriteAllText(Path.Combine(dir.Path, LoraAdapter.ConfigFile), config.Replace("\"r\": 4", "\"r\": 2", StringComparison.Ordinal));
        using var other = CausalLM.Load(Fixtures.Model("llama"));
        var shape = Assert.Throws<AttuneInputException>(() => LoraAdapter.Load(other, dir.Path));
        Assert.Contains("does not match", shape.Message, StringComparison.Ordinal);
    }

    private static Tensor Logits(CausalLM model, long[] ids)
    {
        using var input = tensor(ids).unsqueeze(0);
        using var logits = model.Forward(input);
        return logits[0].clone();
    }
}
