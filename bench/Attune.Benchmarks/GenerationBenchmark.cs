using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Attune.Torch.Models;
using TorchSharp;

namespace Attune.Benchmarks;

/// <summary>
/// Generation throughput of the ~19M-parameter bench Llama (random weights, vocab 8192): prompts
/// of 32 tokens, 128 new tokens, greedy, batch 1 and 8, with and without the KV cache, on a given
/// number of threads. Prints one JSON line per configuration: new tokens per second (all rows
/// together, from the fastest run), the CPU time of that run, and the process's peak resident
/// memory during that configuration.
/// </summary>
/// <remarks>
/// Not a BenchmarkDotNet suite: one uncached batch-8 run takes tens of seconds, and peak memory
/// is read from <c>/proc/self/status</c> (VmHWM, reset between configurations through
/// <c>/proc/self/clear_refs</c>). Run: <c>dotnet run -c Release --project bench/Attune.Benchmarks -- generation</c>
/// (options: <c>--threads N</c>, <c>--precision fp32|bf16|bf16-pure</c>, <c>--cache on|off|both</c>, <c>--repeats N</c>, <c>--batches 1,8</c>, <c>--new-tokens N</c>).
/// </remarks>
public static class GenerationBenchmark
{
    public static void Run(string[] args)
    {
        var threads = Option(args, "--threads", 2);
        var repeats = Option(args, "--repeats", 3);
        var newTokens = Option(args, "--new-tokens", 128);
        var promptTokens = Option(args, "--prompt-tokens", 32);
        bool[] caches = (Value(args, "--cache") ?? "both") switch
        {
            "on" => [true],
            "off" => [false],
            _ => [true, false],
        };
        var batches = (Value(args, "--batches") ?? "1,8").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        Console.Error.WriteLine(Attune.Torch.Native.MklFastPath.Ensure().Message);   // before the first matmul
        var precision = Precisions.Parse(Value(args, "--precision") ?? "fp32");
        torch.set_num_threads(threads);

        var config = BuiltInModels.Create("llama", "bench", 8192);
        using var model = ModelFolder.Initialize(config, seed: 1);
        model.SetPrecision(precision);
        model.eval();
        var random = new Random(7);
        Console.Error.WriteLine($"bench llama: {model.ParameterCount:N0} parameters, {threads} threads, prompt {promptTokens}, {newTokens} new tokens, greedy, {precision.Name()}");

        foreach (var batch in batches)
        {
            var prompts = Enumerable.Range(0, batch).Select(_ => Enumerable.Range(0, promptTokens).Select(_ => random.Next(config.VocabSize)).ToArray()).ToList();
            foreach (var cache in caches)
            {
                var options = new GenerationOptions { Greedy = true, MaxNewTokens = newTokens, UseCache = cache };
                Generation.Generate(model, prompts, options with { MaxNewTokens = 4 });   // warm-up
                ResetPeak();
                var runs = cache ? repeats : 1;             // without the cache one run is long enough
                var seconds = new List<double>();
                var cpu = new List<double>();
                for (var r = 0; r < runs; r++)
                {
                    var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
                    var clock = Stopwatch.StartNew();
                    var result = Generation.Generate(model, prompts, options);
                    seconds.Add(clock.Elapsed.TotalSeconds);
                    cpu.Add((Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds);
                    if (result.Any(g => g.NewIds.Length != newTokens))
                    {
                        throw new InvalidOperationException("a row stopped early");
                    }
                }

                var best = seconds.Min();
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    batch,
                    precision = precision.Name(),
                    kv_cache = cache,
                    threads,
                    prompt_tokens = promptTokens,
                    new_tokens = newTokens,
                    runs,
                    seconds_best = Math.Round(best, 3),
                    seconds_median = Math.Round(seconds.Order().ElementAt(seconds.Count / 2), 3),
                    tokens_per_second = Math.Round(batch * newTokens / best, 1),
                    // CPU seconds (all threads) of the fastest run: on a busy machine, closer to the work done than wall time.
                    cpu_seconds_of_best = Math.Round(cpu[seconds.IndexOf(best)], 3),
                    peak_rss_mb = PeakRssMb(),
                }));
            }
        }
    }

    /// <summary>VmHWM of this process in MB (Linux), or -1.</summary>
    private static double PeakRssMb()
    {
        try
        {
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
            return line is null ? -1 : Math.Round(double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024, 1);
        }
        catch (IOException)
        {
            return -1;
        }
    }

    /// <summary>Resets VmHWM to the current RSS ("5" to clear_refs, Linux 4.0+), so each configuration reports its own peak.</summary>
    private static void ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine("peak memory cannot be reset here; it is the process's peak so far");
        }
    }

    internal static string? Value(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    internal static int Option(string[] args, string name, int fallback) =>
        Value(args, name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
}
