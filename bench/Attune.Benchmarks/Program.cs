using BenchmarkDotNet.Running;

namespace Attune.Benchmarks;

public static class Program
{
    /// <summary>
    /// <c>train-throughput [--steps N] [--threads N]</c> runs the timed training benchmark (a plain program:
    /// one run takes minutes); anything else goes to BenchmarkDotNet's switcher, e.g. <c>-- --filter '*Permutation*'</c>.
    /// </summary>
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "train-throughput")
        {
            return TrainingThroughput.Run(args[1..]);
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
