using Attune.Torch.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Attune.Torch.Merging;

/// <summary>How task vectors are combined.</summary>
public enum MergeMethod
{
    /// <summary>Weighted average of the models: Σ wᵢ θᵢ / Σ wᵢ (equivalently base + Σ wᵢ τᵢ / Σ wᵢ).</summary>
    Linear,

    /// <summary>Task arithmetic (Ilharco et al. 2023): base + Σ wᵢ τᵢ, τᵢ = θᵢ − base.</summary>
    TaskArithmetic,

    /// <summary>TIES (Yadav et al. 2023): trim each τᵢ to its largest entries, elect a sign per entry, average the agreeing entries.</summary>
    Ties,
}

/// <summary>
/// Merging of models that share an architecture, over full checkpoints (task vectors θᵢ − base)
/// or over LoRA adapters (their exact dense deltas s·BA). All tensors are float32 state dicts keyed
/// by Hugging Face parameter names.
/// </summary>
public static class ModelMerging
{
    /// <summary>Task vectors τ = θ − base of a checkpoint against its base.</summary>
    public static Dictionary<string, Tensor> TaskVector(IReadOnlyDictionary<string, Tensor> model, IReadOnlyDictionary<string, Tensor> baseModel)
    {
        CheckSameKeys(model, baseModel);
        using var noGrad = no_grad();
        return model.ToDictionary(kv => kv.Key, kv => (kv.Value - baseModel[kv.Key]).DetachFromDisposeScope(), StringComparer.Ordinal);
    }

    /// <summary>The exact dense deltas of a model's attached adapters, keyed by the weight they change.</summary>
    public static Dictionary<string, Tensor> AdapterDeltas(CausalLM model)
    {
        using var noGrad = no_grad();
        return model.Projections().Where(p => p.Projection.HasAdapter)
            .ToDictionary(p => p.Path + ".weight", p => p.Projection.Delta().DetachFromDisposeScope(), StringComparer.Ordinal);
    }

    /// <summary>
    /// The task vector of one merge source against the base checkpoint in <paramref name="baseDirectory"/>
    /// (whose weights are <paramref name="baseWeights"/>): a fine-tuned checkpoint's θ − base (its
    /// config must equal the base's, end-of-sequence ids aside), or a PEFT adapter's exact deltas on the base.
    /// </summary>
    public static Dictionary<string, Tensor> TaskVectorOf(string baseDirectory, CausalLM baseModel, IReadOnlyDictionary<string, Tensor> baseWeights, string path, bool adapter)
    {
        ArgumentNullException.ThrowIfNull(baseModel);
        if (adapter)
        {
            using var withAdapter = CausalLM.Load(baseDirectory);
            Lora.LoraAdapter.Load(withAdapter, path);
            return AdapterDeltas(withAdapter);
        }

        using var other = CausalLM.Load(path);
        if (other.Config with { EosTokenIds = baseModel.Config.EosTokenIds } != baseModel.Config)
        {
            throw new Core.Errors.AttuneInputException("its config.json differs from the base model's: only models of the same architecture and size merge", path);
        }

        return TaskVector(other.StateDict(), baseWeights);
    }

    /// <summary>
    /// Combines task vectors into one. Entries missing from a task vector count as zero (an adapter
    /// that does not touch a weight). <paramref name="density"/> is TIES's kept fraction per tensor.
    /// </summary>
    public static Dictionary<string, Tensor> Combine(IReadOnlyList<IReadOnlyDictionary<string, Tensor>> taskVectors, IReadOnlyList<double> weights, MergeMethod method, double density = 0.5)
    {
        if (taskVectors.Count == 0 || taskVectors.Count != weights.Count)
        {
            throw new ArgumentException($"{taskVectors.Count} task vectors need as many weights, got {weights.Count}");
        }

        if (method == MergeMethod.Ties && density is <= 0 or > 1)
        {
            throw new ArgumentException($"TIES density must be in (0, 1], got {density}");
        }

        if (method == MergeMethod.Linear && Math.Abs(weights.Sum()) < 1e-12)
        {
            throw new ArgumentException("linear merging divides by the sum of the weights, which is zero");
        }

        using var noGrad = no_grad();
        var names = taskVectors.SelectMany(t => t.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            using var scope = NewDisposeScope();
            var present = Enumerable.Range(0, taskVectors.Count).Where(i => taskVectors[i].ContainsKey(name)).ToList();
            var shape = taskVectors[present[0]][name].shape;
            var parts = Enumerable.Range(0, taskVectors.Count)
                .Select(i => taskVectors[i].TryGetValue(name, out var t) ? t.to_type(ScalarType.Float32) : zeros(shape))
                .ToList();
            var merged = method switch
            {
                MergeMethod.Linear => parts.Select((t, i) => t * weights[i]).Aggregate((a, b) => a + b) / weights.Sum(),
                MergeMethod.TaskArithmetic => parts.Select((t, i) => t * weights[i]).Aggregate((a, b) => a + b),
                _ => Ties(parts, weights, density),
            };
            result[name] = merged.MoveToOuterDisposeScope();
        }

        return result;
    }

    /// <summary>base + τ for every parameter of the base (parameters τ lacks are copied).</summary>
    public static Dictionary<string, Tensor> Apply(IReadOnlyDictionary<string, Tensor> baseModel, IReadOnlyDictionary<string, Tensor> taskVector, double scale = 1.0)
    {
        var unknown = taskVector.Keys.FirstOrDefault(k => !baseModel.ContainsKey(k));
        if (unknown is not null)
        {
            throw new ArgumentException($"the task vector changes '{unknown}', which the base model does not have");
        }

        using var noGrad = no_grad();
        return baseModel.ToDictionary(
            kv => kv.Key,
            kv => (taskVector.TryGetValue(kv.Key, out var t) ? kv.Value + (t * scale) : kv.Value.clone()).DetachFromDisposeScope(),
            StringComparer.Ordinal);
    }

    /// <summary>TIES on one tensor: trim to the top <paramref name="density"/> by magnitude, elect signs, disjoint weighted mean.</summary>
    internal static Tensor Ties(IReadOnlyList<Tensor> taskVectors, IReadOnlyList<double> weights, double density)
    {
        using var scope = NewDisposeScope();
        var trimmed = taskVectors.Select((t, i) => Trim(t, density) * weights[i]).ToList();
        var stacked = stack(trimmed);                                         // [M, ...]
        var sign = stacked.sum(dim: 0).sign();                                     // elected sign per entry
        var agree = stacked.sign().eq(sign.unsqueeze(0)).logical_and(stacked.ne(0));
        var weightShape = new long[stacked.dim()];
        Array.Fill(weightShape, 1L);
        weightShape[0] = weights.Count;
        var w = tensor(weights.Select(x => (float)x).ToArray()).reshape(weightShape).expand_as(stacked);
        var numerator = stacked.where(agree, 0).sum(dim: 0);
        var denominator = w.where(agree, 0).sum(dim: 0);
        var merged = numerator / denominator.where(denominator.ne(0), 1);
        return merged.MoveToOuterDisposeScope();
    }

    /// <summary>Keeps the ⌈density · n⌉ entries of largest magnitude (ties at the threshold kept), zeroes the rest.</summary>
    internal static Tensor Trim(Tensor t, double density)
    {
        using var scope = NewDisposeScope();
        var n = t.numel();
        var keep = (long)Math.Ceiling(density * n);
        if (keep >= n)
        {
            return t.clone().MoveToOuterDisposeScope();
        }

        var magnitude = t.abs().flatten();
        var threshold = magnitude.topk((int)keep).values[-1];
        return t.where(t.abs().ge(threshold), 0).MoveToOuterDisposeScope();
    }

    private static void CheckSameKeys(IReadOnlyDictionary<string, Tensor> a, IReadOnlyDictionary<string, Tensor> b)
    {
        var missing = a.Keys.Where(k => !b.ContainsKey(k)).Concat(b.Keys.Where(k => !a.ContainsKey(k))).FirstOrDefault();
        if (missing is not null)
        {
            throw new ArgumentException($"the two models do not have the same parameters ('{missing}' is in only one)");
        }

        var shape = a.Keys.FirstOrDefault(k => !a[k].shape.SequenceEqual(b[k].shape));
        if (shape is not null)
        {
            throw new ArgumentException($"'{shape}' has shape [{string.Join(", ", a[shape].shape)}] in one model and [{string.Join(", ", b[shape].shape)}] in the other");
        }
    }
}
