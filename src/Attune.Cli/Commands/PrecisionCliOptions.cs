using System.CommandLine;
using Attune.Core.Errors;
using Attune.Torch.Models;
using Attune.Torch.Safetensors;
using Attune.Torch.Training;

namespace Attune.Cli.Commands;

/// <summary>
/// <c>--precision</c> (every verb that runs or trains a model) and <c>--save-dtype</c> (the training verbs).
/// Both are read before any model is loaded, so a bad value costs nothing but the one line.
/// </summary>
internal sealed class PrecisionCliOptions
{
    public Option<string> Precision { get; } = NewPrecisionOption();

    public Option<string?> SaveDType { get; } = new("--save-dtype")
    {
        Description = "fp32, bf16 or fp16: the type of the final model/ or adapter/ weights (default fp32, the trained weights' type; checkpoints keep fp32 so that --resume continues bit for bit).",
    };

    /// <summary>The <c>--precision</c> option alone, for verbs that only run a model.</summary>
    public static Option<string> NewPrecisionOption() => new("--precision")
    {
        Description = "fp32; bf16 (float32 weights, bfloat16 matrix products and attention; norms, softmax, loss and log-probs in float32); " +
                      "bf16-pure (bfloat16 weights and activations: inference, or LoRA on a frozen base).",
        DefaultValueFactory = _ => "fp32",
    };

    public Precision ReadPrecision(CommandContext ctx) => Precisions.Parse(ctx.Get(Precision));

    /// <summary>The final weights' type; null when not given (the trainer's default, float32).</summary>
    public SafetensorsDType? ReadSaveDType(CommandContext ctx) => ctx.Get(SaveDType) is { } s ? Precisions.ParseSaveType(s) : null;

    /// <summary>Both options of a training verb, checked together: bf16-pure trains LoRA adapters only.</summary>
    public (Precision Precision, SafetensorsDType? SaveDType) ReadForTraining(CommandContext ctx, bool lora)
    {
        var precision = ReadPrecision(ctx);
        var save = ReadSaveDType(ctx);
        if (precision == Torch.Models.Precision.Bf16Pure && !lora)
        {
            throw new AttuneInputException(Trainer.Bf16PureFullMessage);
        }

        return (precision, save);
    }
}
