using BenchmarkDotNet.Running;

namespace Attune.Benchmarks;

public static class Program
{
    /// <summary>
    /// <c>-- interaction [...]</c> runs the interaction simulator's timed benchmark; anything else goes
    /// to BenchmarkDotNet's switcher, e.g. <c>-- --filter '*Permutation*'</c>.
    /// </summary>
    public static void Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "interaction")
        {
            InteractionBenchmark.Run(args);
            return;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
