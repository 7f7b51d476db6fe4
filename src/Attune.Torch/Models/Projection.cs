using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Attune.Torch.Models;

/// <summary>
/// A linear projection y = x Wᵀ + b that can carry a LoRA adapter: y += s · B(A(dropout(x))),
/// s = alpha / r (or alpha / √r with rsLoRA). Parameter names follow PEFT: <c>weight</c>,
/// <c>bias</c>, <c>lora_A.weight</c> [r, in], <c>lora_B.weight</c> [out, r]. With a
/// <see cref="ComputeType"/> (bfloat16 under <see cref="Precision.Bf16"/>), the input, the weights
/// and the adapter are cast to it for the products; the casts are differentiable, so gradients
/// reach the stored (float32 master) weights in their own type.
/// </summary>
public sealed class Projection : nn.Module<Tensor, Tensor>
{
    // Not readonly: CausalLM.SetPrecision replaces them when the stored type changes.
    private Parameter weight;
    private Parameter? bias;
    private Linear? lora_A;
    private Linear? lora_B;
    private Dropout? _loraDropout;

    public Projection(long inFeatures, long outFeatures, bool hasBias) : base("Linear")
    {
        weight = new Parameter(empty(outFeatures, inFeatures));
        bias = hasBias ? new Parameter(zeros(outFeatures)) : null;
        using (no_grad())
        {
            nn.init.normal_(weight, 0, 0.02);
        }

        RegisterComponents();
    }

    /// <summary>A projection that uses <paramref name="sharedWeight"/> [out, in] (tied embeddings).</summary>
    public Projection(Parameter sharedWeight) : base("Linear")
    {
        weight = sharedWeight;
        RegisterComponents();
    }

    public long InFeatures => weight.shape[1];

    public long OutFeatures => weight.shape[0];

    public Parameter Weight => weight;

    public Parameter? Bias => bias;

    public bool HasAdapter => lora_A is not null;

    /// <summary>True while the adapter's delta is folded into <see cref="Weight"/>.</summary>
    public bool Merged { get; private set; }

    public double Scaling { get; private set; }

    public Parameter? LoraA => lora_A?.weight;

    public Parameter? LoraB => lora_B?.weight;

    /// <summary>The type the products run in (null: the weight's own). Set by <see cref="CausalLM.SetPrecision"/>.</summary>
    public ScalarType? ComputeType { get; set; }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var type = ComputeType ?? weight.dtype;
        var y = F.linear(Cast(x, type), Cast(weight, type), bias is null ? null : Cast(bias, type));
        if (lora_A is not null && !Merged)
        {
            var h = _loraDropout is null ? x : _loraDropout.forward(x);
            var down = F.linear(Cast(h, type), Cast(lora_A.weight!, type));                     // [..., r]
            y = y + (F.linear(down, Cast(lora_B!.weight!, type)) * Scaling);
        }

        return y.MoveToOuterDisposeScope();
    }

    /// <summary>Stores the base weight and bias (not the adapter) as <paramref name="dtype"/>.</summary>
    internal void ConvertBase(ScalarType dtype)
    {
        if (weight.dtype != dtype)
        {
            var old = weight;
            UseWeight(Converted(old, dtype));
            old.Dispose();
        }

        if (bias is not null && bias.dtype != dtype)
        {
            var old = bias;
            bias = Converted(old, dtype);
            ConditionallyRegisterParameter(nameof(bias), bias);
            old.Dispose();
        }
    }

    /// <summary>Points the weight at <paramref name="shared"/> (a tied head, after the embedding was converted).</summary>
    internal void UseWeight(Parameter shared)
    {
        weight = shared;
        ConditionallyRegisterParameter(nameof(weight), weight);
    }

    /// <summary>A new parameter holding <paramref name="p"/>'s values as <paramref name="dtype"/>, trainable as <paramref name="p"/> was.</summary>
    internal static Parameter Converted(Parameter p, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var result = new Parameter(p.detach().to_type(dtype), p.requires_grad);
        result.DetachFromDisposeScope();
        return result;
    }

    private static Tensor Cast(Tensor t, ScalarType type) => t.dtype == type ? t : t.to_type(type);

    /// <summary>Attaches an adapter of rank <paramref name="rank"/>: A from PEFT's default (Kaiming-uniform), B zero, so the model is unchanged until trained.</summary>
    public void AttachAdapter(int rank, double alpha, double dropout, bool rsLora)
    {
        if (lora_A is not null)
        {
            throw new InvalidOperationException("this projection already has an adapter");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(rank, 1);
        lora_A = nn.Linear(InFeatures, rank, hasBias: false, device: weight.device);
        lora_B = nn.Linear(rank, OutFeatures, hasBias: false, device: weight.device);
        using (no_grad())
        {
            nn.init.kaiming_uniform_(lora_A.weight!, Math.Sqrt(5));
            nn.init.zeros_(lora_B.weight!);
        }

        _loraDropout = dropout > 0 ? nn.Dropout(dropout) : null;
        Scaling = rsLora ? alpha / Math.Sqrt(rank) : alpha / rank;
        register_module("lora_A", lora_A);
        register_module("lora_B", lora_B);
    }

    /// <summary>The dense delta s · B A [out, in] of the adapter.</summary>
    public Tensor Delta()
    {
        if (lora_A is null)
        {
            throw new InvalidOperationException("no adapter");
        }

        using var scope = NewDisposeScope();
        return (lora_B!.weight!.matmul(lora_A.weight!) * Scaling).MoveToOuterDisposeScope();
    }

    /// <summary>Folds the adapter into the weight (W += s B A); forward then skips the adapter.</summary>
    public void Merge()
    {
        if (lora_A is null || Merged)
        {
            return;
        }

        using var noGrad = no_grad();
        using var delta = Delta();
        weight.add_(delta);
        Merged = true;
    }

    /// <summary>Takes the adapter back out of the weight (W -= s B A).</summary>
    public void Unmerge()
    {
        if (lora_A is null || !Merged)
        {
            return;
        }

        using var noGrad = no_grad();
        using var delta = Delta();
        weight.sub_(delta);
        Merged = false;
    }
}
