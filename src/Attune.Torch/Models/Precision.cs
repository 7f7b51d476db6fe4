using Attune.Core.Errors;
using Attune.Torch.Safetensors;
using static TorchSharp.torch;

namespace Attune.Torch.Models;

/// <summary>
/// How a model stores its weights and computes. See docs/torch.md, "Precision", for what runs in
/// which type and why.
/// </summary>
public enum Precision
{
    /// <summary>float32 everywhere (the default; what the fixtures are checked against).</summary>
    Fp32,

    /// <summary>
    /// Mixed precision: float32 weights (the master copy the optimizer updates, with float32 AdamW
    /// state); matrix products (every projection, the output head) and attention in bfloat16;
    /// embeddings, the residual stream, RMSNorm, rotary embeddings, softmax / log-softmax, the loss and
    /// summed log-probs in float32.
    /// </summary>
    Bf16,

    /// <summary>
    /// bfloat16 weights and activations (the residual stream too, as a bfloat16 checkpoint runs in
    /// Hugging Face); RMSNorm statistics, rotary embeddings and log-softmax in float32. For inference
    /// and for LoRA on a frozen base (the adapters stay float32 and train as in <see cref="Bf16"/>).
    /// Full fine-tuning is refused: AdamW updates smaller than bfloat16's spacing would be rounded away.
    /// </summary>
    Bf16Pure,
}

/// <summary>Names, parsing and the tensor types of <see cref="Precision"/>.</summary>
public static class Precisions
{
    /// <summary>The names the command line and the files use, in enum order.</summary>
    public static IReadOnlyList<string> Names { get; } = ["fp32", "bf16", "bf16-pure"];

    /// <summary>The save types <c>--save-dtype</c> takes.</summary>
    public static IReadOnlyList<string> SaveTypeNames { get; } = ["fp32", "bf16", "fp16"];

    /// <summary><c>fp32</c>, <c>bf16</c> or <c>bf16-pure</c>.</summary>
    public static string Name(this Precision precision) => Names[(int)precision];

    /// <summary>Parses a name; anything else is an <see cref="AttuneInputException"/> naming <paramref name="option"/>.</summary>
    public static Precision Parse(string? value, string option = "--precision")
    {
        var i = value is null ? -1 : Names.ToList().IndexOf(value.Trim().ToLowerInvariant());
        return i >= 0 ? (Precision)i : throw new AttuneInputException($"{option}: '{value}' is not one of {string.Join(", ", Names)}");
    }

    /// <summary>The precision a reproduction runs in: the one asked for (<c>repro run --precision</c>), else its own choice.</summary>
    public static Precision Resolve(string? asked, Precision own) => asked is null ? own : Parse(asked);

    /// <summary>The type the model's (base) weights are stored in.</summary>
    public static ScalarType StorageType(this Precision precision) => precision == Precision.Bf16Pure ? ScalarType.BFloat16 : ScalarType.Float32;

    /// <summary>The type matrix products and attention run in: null for the weights' own type (float32).</summary>
    public static ScalarType? ComputeType(this Precision precision) => precision == Precision.Fp32 ? null : ScalarType.BFloat16;

    /// <summary>
    /// Parses <c>--save-dtype</c> (<c>fp32</c>, <c>bf16</c>, <c>fp16</c>); null or empty gives
    /// <paramref name="fallback"/>. Anything else is an <see cref="AttuneInputException"/> naming the option.
    /// </summary>
    public static SafetensorsDType ParseSaveType(string? value, SafetensorsDType fallback = SafetensorsDType.F32, string option = "--save-dtype") =>
        string.IsNullOrWhiteSpace(value) ? fallback : value.Trim().ToLowerInvariant() switch
        {
            "fp32" or "f32" or "float32" => SafetensorsDType.F32,
            "bf16" or "bfloat16" => SafetensorsDType.BF16,
            "fp16" or "f16" or "float16" => SafetensorsDType.F16,
            _ => throw new AttuneInputException($"{option}: '{value}' is not one of {string.Join(", ", SaveTypeNames)}"),
        };

    /// <summary>The <c>--save-dtype</c> name of a safetensors type (fp32, bf16, fp16).</summary>
    public static string SaveTypeName(SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.F32 => "fp32",
        SafetensorsDType.BF16 => "bf16",
        SafetensorsDType.F16 => "fp16",
        _ => dtype.ToString().ToLowerInvariant(),
    };
}
