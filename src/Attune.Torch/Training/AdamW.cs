using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Attune.Torch.Training;

/// <summary>
/// AdamW settings. The defaults are PyTorch's <c>torch.optim.AdamW</c> defaults, written out:
/// betas (0.9, 0.999), eps 1e-8 and <b>weight decay 0.01</b> (TorchSharp's own <c>optim.AdamW</c>
/// defaults to 0, which silently differs from PyTorch).
/// </summary>
public sealed record AdamWOptions
{
    public double Beta1 { get; init; } = 0.9;

    public double Beta2 { get; init; } = 0.999;

    public double Eps { get; init; } = 1e-8;

    /// <summary>Decoupled weight decay for the "decay" group; the "no decay" group always uses 0.</summary>
    public double WeightDecay { get; init; } = 0.01;
}

/// <summary>A named set of parameters sharing a weight decay.</summary>
public sealed record ParameterGroup(string Name, IReadOnlyList<(string Name, Parameter Parameter)> Parameters, double WeightDecay);

/// <summary>
/// AdamW (Loshchilov &amp; Hutter), the same arithmetic as PyTorch's single-tensor <c>AdamW</c>:
/// <code>
/// p ← p · (1 − lr·λ)
/// m ← β₁ m + (1 − β₁) g          v ← β₂ v + (1 − β₂) g²
/// p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
/// </code>
/// Written here rather than using TorchSharp's optimizer so that its whole state (step count and
/// both moments of every parameter, by name) can be checkpointed and restored exactly.
/// </summary>
public sealed class AdamW : IDisposable
{
    private readonly AdamWOptions _options;
    private readonly Dictionary<string, (Tensor ExpAvg, Tensor ExpAvgSq)> _state = new(StringComparer.Ordinal);

    public AdamW(IReadOnlyList<ParameterGroup> groups, AdamWOptions? options = null)
    {
        Groups = groups;
        _options = options ?? new AdamWOptions();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, _) in groups.SelectMany(g => g.Parameters))
        {
            if (!names.Add(name))
            {
                throw new ArgumentException($"parameter '{name}' is in more than one group");
            }
        }
    }

    public IReadOnlyList<ParameterGroup> Groups { get; }

    public AdamWOptions Options => _options;

    /// <summary>Optimizer steps taken so far (PyTorch's per-parameter <c>step</c>; the same for all here).</summary>
    public long StepCount { get; private set; }

    /// <summary>
    /// Two groups, as Hugging Face's Trainer makes them: "decay" (matrices: projections, embeddings)
    /// and "no decay" (every tensor of fewer than two dimensions: norm weights and biases).
    /// Frozen parameters (<c>requires_grad</c> false) are left out.
    /// </summary>
    public static IReadOnlyList<ParameterGroup> DecayGroups(IEnumerable<(string Name, Parameter Parameter)> parameters, double weightDecay)
    {
        var trainable = parameters.Where(p => p.Parameter.requires_grad).ToList();
        return
        [
            new ParameterGroup("decay", [.. trainable.Where(p => p.Parameter.dim() >= 2)], weightDecay),
            new ParameterGroup("no_decay", [.. trainable.Where(p => p.Parameter.dim() < 2)], 0.0),
        ];
    }

    /// <summary>Sets every gradient to null (PyTorch's <c>zero_grad(set_to_none=True)</c>).</summary>
    public void ZeroGrad()
    {
        foreach (var (_, p) in Groups.SelectMany(g => g.Parameters))
        {
            var g = p.grad;
            if (g is not null)
            {
                p.grad = null;
                g.Dispose();
            }
        }
    }

    /// <summary>One update with learning rate <paramref name="lr"/>; parameters without a gradient are skipped.</summary>
    public void Step(double lr)
    {
        StepCount++;
        var (b1, b2) = (_options.Beta1, _options.Beta2);
        var bias1 = 1 - Math.Pow(b1, StepCount);
        var bias2Sqrt = Math.Sqrt(1 - Math.Pow(b2, StepCount));
        var stepSize = lr / bias1;
        using var noGrad = no_grad();
        foreach (var group in Groups)
        {
            foreach (var (name, p) in group.Parameters)
            {
                var g = p.grad;
                if (g is null)
                {
                    continue;
                }

                if (!_state.TryGetValue(name, out var s))
                {
                    s = (zeros_like(p).DetachFromDisposeScope(), zeros_like(p).DetachFromDisposeScope());
                    _state[name] = s;
                }

                using var scope = NewDisposeScope();
                if (group.WeightDecay != 0)
                {
                    p.mul_(1 - (lr * group.WeightDecay));
                }

                s.ExpAvg.lerp_(g, 1 - b1);                        // m ← β₁ m + (1 − β₁) g
                s.ExpAvgSq.mul_(b2).addcmul_(g, g, 1 - b2);      // v ← β₂ v + (1 − β₂) g²
                var denom = s.ExpAvgSq.sqrt().div_(bias2Sqrt).add_(_options.Eps);
                p.addcdiv_(s.ExpAvg, denom, -stepSize);
            }
        }
    }

    /// <summary>
    /// The full state as tensors: <c>exp_avg.NAME</c> and <c>exp_avg_sq.NAME</c> for every parameter
    /// that has taken a step (the step count is <see cref="StepCount"/>). The tensors are the live state.
    /// </summary>
    public Dictionary<string, Tensor> StateTensors()
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, (m, v)) in _state)
        {
            result["exp_avg." + name] = m;
            result["exp_avg_sq." + name] = v;
        }

        return result;
    }

    /// <summary>Restores a state written from <see cref="StateTensors"/> (copied; the caller keeps the inputs).</summary>
    public void LoadState(IReadOnlyDictionary<string, Tensor> tensors, long stepCount, string source)
    {
        ClearState();
        var parameters = Groups.SelectMany(g => g.Parameters).ToDictionary(p => p.Name, p => p.Parameter, StringComparer.Ordinal);
        foreach (var key in tensors.Keys)
        {
            if (!key.StartsWith("exp_avg.", StringComparison.Ordinal))
            {
                if (!key.StartsWith("exp_avg_sq.", StringComparison.Ordinal))
                {
                    throw new Core.Errors.AttuneInputException($"unexpected optimizer tensor '{key}'", source);
                }

                continue;
            }

            var name = key["exp_avg.".Length..];
            if (!parameters.TryGetValue(name, out var p))
            {
                throw new Core.Errors.AttuneInputException($"optimizer state for '{name}', which is not a trained parameter", source);
            }

            if (!tensors.TryGetValue("exp_avg_sq." + name, out var v))
            {
                throw new Core.Errors.AttuneInputException($"exp_avg_sq missing for '{name}'", source);
            }

            var m = tensors[key];
            if (!m.shape.SequenceEqual(p.shape) || !v.shape.SequenceEqual(p.shape))
            {
                throw new Core.Errors.AttuneInputException($"optimizer state shape does not match parameter '{name}'", source);
            }

            _state[name] = (m.to(ScalarType.Float32, p.device, copy: true).DetachFromDisposeScope(),
                            v.to(ScalarType.Float32, p.device, copy: true).DetachFromDisposeScope());
        }

        StepCount = stepCount;
    }

    public void Dispose() => ClearState();

    private void ClearState()
    {
        foreach (var (m, v) in _state.Values)
        {
            m.Dispose();
            v.Dispose();
        }

        _state.Clear();
    }
}
