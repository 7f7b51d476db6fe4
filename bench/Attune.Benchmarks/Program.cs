using BenchmarkDotNet.Running;

namespace Attune.Benchmarks;

public static class Program
{
    /// <summary>Runs the suites chosen with BenchmarkDotNet's switches, e.g. <c>-- --filter '*Permutation*'</c>.</summary>
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
