using System.CommandLine;
using Attune.Torch.Lora;

namespace Attune.Cli.Commands;

/// <summary>The LoRA options shared by the training verbs (<c>train sft</c>, <c>align train</c>) and the adapter they describe.</summary>
internal sealed class LoraCliOptions
{
    public Option<int> Rank { get; } = new Option<int>("--lora-r") { Description = "Train a LoRA adapter of this rank instead of the full model (0: full fine-tuning)." }.Range(0, 4096);

    public Option<double> Alpha { get; } = new Option<double>("--lora-alpha") { Description = "LoRA alpha (scaling alpha / r).", DefaultValueFactory = _ => 16 }.Above(0, 1e6);

    public Option<double> Dropout { get; } = new Option<double>("--lora-dropout") { Description = "Dropout on the adapter's input (0 to 0.99)." }.Range(0, 0.99);

    public Option<string> Targets { get; } = new("--lora-targets") { Description = "Comma-separated module names, or all-linear.", DefaultValueFactory = _ => "q_proj,v_proj" };

    /// <summary>The adapter the options ask for; null for full fine-tuning (rank 0).</summary>
    public LoraConfig? Read(CommandContext ctx) =>
        ctx.Get(Rank) > 0
            ? new LoraConfig
            {
                Rank = ctx.Get(Rank),
                Alpha = ctx.Get(Alpha),
                Dropout = ctx.Get(Dropout),
                TargetModules = [.. ctx.Get(Targets)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)],
            }
            : null;
}
