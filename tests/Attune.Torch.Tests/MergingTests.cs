using Attune.Torch.Lora;
using Attune.Torch.Merging;
using Attune.Torch.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Attune.Torch.Tests;

public class MergingTests
{
    private static Dictionary<string, Tensor> One(params float[] values) => new() { ["w"] = tensor(values) };

    private static float[] W(Dictionary<string, Tensor> d) => d["w"].data<float>().ToArray();

    [Fact]
    public void Task_arithmetic_adds_weighted_task_vectors_to_the_base()
    {
        // base [1,2,3]; m1 [2,2,2] -> tau1 [1,0,-1]; m2 [0,4,3] -> tau2 [-1,2,0];
        // base + 0.5 tau1 + 1 tau2 = [0.5, 4, 2.5] (by hand).
        var baseModel = One(1, 2, 3);
        var tau = new[] { ModelMerging.TaskVector(One(2, 2, 2), baseModel), ModelMerging.TaskVector(One(0, 4, 3), baseModel) };
        var merged = ModelMerging.Apply(baseModel, ModelMerging.Combine(tau, [0.5, 1], MergeMethod.TaskArithmetic));
        Assert.Equal([0.5f, 4f, 2.5f], W(merged));
    }

    [Fact]
    public void Linear_merging_is_the_weighted_average_of_the_models()
    {
        // (1 * [2,2,2] + 3 * [0,4,3]) / 4 = [0.5, 3.5, 2.75] (by hand).
        var baseModel = One(1, 2, 3);
        var tau = new[] { ModelMerging.TaskVector(One(2, 2, 2), baseModel), ModelMerging.TaskVector(One(0, 4, 3), baseModel) };
        var merged = ModelMerging.Apply(baseModel, ModelMerging.Combine(tau, [1, 3], MergeMethod.Linear));
        Assert.Equal([0.5f, 3.5f, 2.75f], W(merged));
    }

    [Fact]
    public void Ties_trims_elects_signs_and_averages_agreeing_entries()
    {
        // density 0.5 keeps 2 of 4 entries per vector:
        //   tau1 [3,-1,0.5,-2] -> [3,0,0,-2]; tau2 [-1,-2,1,4] -> [0,-2,0,4]; tau3 [2,1,-0.1,-3] -> [2,0,0,-3]
        // sum [5,-2,0,-1] elects signs [+,-,0,-]; means of agreeing entries: [(3+2)/2, -2, 0, (-2-3)/2].
        var taus = new IReadOnlyDictionary<string, Tensor>[] { One(3, -1, 0.5f, -2), One(-1, -2, 1, 4), One(2, 1, -0.1f, -3) };
        Assert.Equal([2.5f, -2f, 0f, -2.5f], W(ModelMerging.Combine(taus, [1, 1, 1], MergeMethod.Ties, density: 0.5)));

        // Weights [1,2,1] scale before the election: [3,0,0,-2], [0,-4,0,8], [2,0,0,-3]; sum [5,-4,0,3] -> [+,-,0,+];
        // weighted disjoint means: [(3+2)/(1+1), -4/2, 0, 8/2].
        Assert.Equal([2.5f, -2f, 0f, 4f], W(ModelMerging.Combine(taus, [1, 2, 1], MergeMethod.Ties, density: 0.5)));
    }

    [Fact]
    public void Merging_exact_lora_deltas_equals_merging_the_adapter_into_the_model()
    {
        using var model = CausalLM.Load(Fixtures.Model("llama"));
        LoraAdapter.Load(model, Path.Combine(Fixtures.Root, "hf-tiny-lora", "llama"));
        var baseWeights = model.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        var deltas = ModelMerging.AdapterDeltas(model);
        Assert.Equal(6, deltas.Count); // q_proj, v_proj, down_proj in 2 layers
        var merged = ModelMerging.Apply(baseWeights, ModelMerging.Combine([deltas], [1], MergeMethod.TaskArithmetic));
        LoraAdapter.Merge(model);
        foreach (var (name, p) in model.StateDict())
        {
            Assert.True(p.allclose(merged[name], rtol: 0, atol: 1e-6), name);
        }
    }

    [Fact]
    public void Bad_merges_are_refused_with_reasons()
    {
        Assert.Throws<ArgumentException>(() => ModelMerging.Combine([One(1)], [1, 2], MergeMethod.Linear));
        Assert.Throws<ArgumentException>(() => ModelMerging.Combine([One(1)], [1], MergeMethod.Ties, density: 0));
        Assert.Throws<ArgumentException>(() => ModelMerging.Combine([One(1), One(2)], [1, -1], MergeMethod.Linear));
        var shape = Assert.Throws<ArgumentException>(() => ModelMerging.TaskVector(One(1, 2), One(1, 2, 3)));
        Assert.Contains("shape", shape.Message, StringComparison.Ordinal);
    }
}
