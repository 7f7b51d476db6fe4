using BenchmarkDotNet.Running;

namespace Attune.Benchmarks;

public static class Program
{
    /// <summary>
    /// A few timed programs run by name: <c>-- interaction [...]</c> (the interaction simulator),
    /// <c>-- generation [...]</c> (generation throughput, see <see cref="GenerationBenchmark"/>) and
    /// <c>-- train-throughput [--steps N] [--threads N]</c> (training throughput; one run takes minutes),
    /// <c>-- dpo-throughput [--steps N] [--threads N] [--modes cached,recomputed]</c> (DPO steps/s, see <see cref="DpoThroughput"/>);
    /// <c>-- pdpo-throughput [--steps N] [--threads N] [--rounds N]</c> (P-DPO vs DPO steps/s, see <see cref="PdpoThroughput"/>);
    /// <c>-- precision-throughput</c> and <c>-- precision-bands</c> (fp32 against bf16, see <see cref="PrecisionBenchmark"/>);
    /// <c>-- cot-eval --model DIR [...]</c> (Composable CoT two-stage decoding, questions/s, see <see cref="CotEvalBenchmark"/>);
    /// <c>-- serve [--clients 1,4,16]</c> (attune serve against in-process batched generation, see <see cref="ServeBenchmark"/>);
    /// <c>-- letter-lookup [--task copy|next] [--steps N]</c> (can the tiny Llama learn the next task's look-up? see <see cref="LetterLookup"/>);
    /// <c>-- mcp [--calls N]</c> (MCP tools/call latency against the TypeScript SDK peer, see <see cref="McpBenchmark"/>);
    /// anything else goes to BenchmarkDotNet's switcher, e.g. <c>-- --filter '*Permutation*'</c>.
    /// </summary>
    public static int Main(string[] args)
    {
        switch (args.Length > 0 ? args[0] : "")
        {
            case "interaction":
                InteractionBenchmark.Run(args);
                return 0;
            case "generation":
                GenerationBenchmark.Run(args[1..]);
                return 0;
            case "train-throughput":
                return TrainingThroughput.Run(args[1..]);
            case "dpo-throughput":
                return DpoThroughput.Run(args[1..]);
            case "pdpo-throughput":
                return PdpoThroughput.Run(args[1..]);
            case "precision-throughput":
                return PrecisionBenchmark.Throughput(args[1..]);
            case "precision-bands":
                return PrecisionBenchmark.Bands(args[1..]);
            case "cot-eval":
                return CotEvalBenchmark.Run(args[1..]);
            case "serve":
                return ServeBenchmark.RunAsync(args[1..]).GetAwaiter().GetResult();
            case "letter-lookup":
                return LetterLookup.Run(args[1..]);
            case "mcp":
                return McpBenchmark.RunAsync(args[1..]).GetAwaiter().GetResult();
            default:
                BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
                return 0;
        }
    }
}
