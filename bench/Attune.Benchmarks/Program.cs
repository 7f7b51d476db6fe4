using BenchmarkDotNet.Running;

namespace Attune.Benchmarks;

public static class Program
{
    /// <summary>
    /// A few timed programs run by name: <c>-- interaction [...]</c> (the interaction simulator) and
    /// <c>-- generation [...]</c> (generation throughput, see <see cref="GenerationBenchmark"/>);
    /// anything else goes to BenchmarkDotNet's switcher, e.g. <c>-- --filter '*Permutation*'</c>.
    /// </summary>
    public static void Main(string[] args)
    {
        switch (args.Length > 0 ? args[0] : "")
        {
            case "interaction":
                InteractionBenchmark.Run(args);
                return;
            case "generation":
                GenerationBenchmark.Run(args[1..]);
                return;
            default:
                BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
                return;
        }
    }
}
