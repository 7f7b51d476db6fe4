using BenchmarkDotNet.Running;

namespace Attune.Benchmarks;

public static class Program
{
    /// <summary>
    /// Runs the suites chosen with BenchmarkDotNet's switches, e.g. <c>-- --filter '*Permutation*'</c>;
    /// <c>-- generation</c> runs the generation throughput benchmark (see <see cref="GenerationBenchmark"/>).
    /// </summary>
    public static void Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "generation")
        {
            GenerationBenchmark.Run(args[1..]);
            return;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
