using System.CommandLine;

namespace Attune.Cli.Commands;

/// <summary>
/// <c>--threads</c> of the verbs that run torch: 1 to <see cref="OptionChecks.MaxThreads"/>, refused at
/// parse time (libtorch aborts the process, exit 134, on 0 or a negative count).
/// </summary>
internal static class ThreadsCliOption
{
    public static Option<int?> Create(string description = "CPU threads for torch (default: torch's choice).") =>
        new Option<int?>("--threads") { Description = description }.Range(1, OptionChecks.MaxThreads);

    /// <summary>Sets torch's thread count when the option was given.</summary>
    public static void Apply(CommandContext ctx, Option<int?> option)
    {
        if (ctx.Get(option) is int n)
        {
            TorchSharp.torch.set_num_threads(n);
        }
    }
}
