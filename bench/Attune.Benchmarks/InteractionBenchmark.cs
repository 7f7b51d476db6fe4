using System.Diagnostics;
using System.Globalization;
using Attune.Interaction;

namespace Attune.Benchmarks;

/// <summary>
/// The interaction simulator's benchmark, as a timed program (one long run is what matters, not
/// microsecond statistics): the T-RECS setting of issue 7 — 1,000 users, 500 items, dimension 16,
/// 1,000 steps, slate of 10, drift toward consumed items, content filtering retrained every step,
/// homogenisation measured every step — then how user-steps per second scale with users and items.
/// <code>dotnet run -c Release --project bench/Attune.Benchmarks -- interaction [--users N] [--items M] [--steps T] [--threads K] [--scaling]</code>
/// </summary>
public static class InteractionBenchmark
{
    public static void Run(string[] args)
    {
        var users = BenchArgs.Int(args, "--users", 1000);
        var items = BenchArgs.Int(args, "--items", 500);
        var steps = BenchArgs.Int(args, "--steps", 1000);
        var threads = BenchArgs.Int(args, "--threads", 0);
        var scaling = args.Contains("--scaling");
        Console.WriteLine($"processors: {Environment.ProcessorCount}; load average: {LoadAverage()}");

        // Warm-up (JIT) on a small run of the same shape.
        Measure(200, 100, 16, 20, threads);
        var main = Measure(users, items, 16, steps, threads);
        Console.WriteLine(Line("T-RECS setting", main));
        if (!scaling)
        {
            return;
        }

        var scalingSteps = Math.Min(steps, 200);
        foreach (var n in new[] { 250, 500, 1000, 2000, 4000, 8000 })
        {
            Console.WriteLine(Line($"users {n}, items 500, {scalingSteps} steps", Measure(n, 500, 16, scalingSteps, threads)));
        }

        foreach (var m in new[] { 125, 250, 500, 1000, 2000, 4000 })
        {
            Console.WriteLine(Line($"users 1000, items {m}, {scalingSteps} steps", Measure(1000, m, 16, scalingSteps, threads)));
        }

        foreach (var t in new[] { 1, 2 })
        {
            Console.WriteLine(Line($"T-RECS setting, {t} thread(s), {scalingSteps} steps", Measure(1000, 500, 16, scalingSteps, t)));
        }
    }

    /// <summary>The scenario of the benchmark.</summary>
    public static Scenario Setting(int users, int items, int dimension, int steps, int threads)
    {
        var s = new Scenario
        {
            Name = "trecs-benchmark",
            Seed = 42,
            Users = users,
            Items = items,
            Dimension = dimension,
            Horizon = steps,
            SlateSize = 10,
            Threads = threads,
            UserModel = () => new DriftTowardItem(0.1),
            Choice = new ChoiceModel { Noise = RatingNoise.None },
            Recommender = () => new ContentFiltering(every: 1, ridge: 1e-6),
        };
        s.Metrics.Add(() => new HomogenizationMetric(PairMode.Random));
        s.Metrics.Add(() => new DriftMetric());
        return s;
    }

    public sealed record Measurement(int Users, int Items, int Steps, double Seconds, double CpuSeconds, double UserStepsPerSecond, long AllocatedBytes, long WorkingSetGrowth, double NanUsers);

    public static Measurement Measure(int users, int items, int dimension, int steps, int threads)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var process = Process.GetCurrentProcess();
        process.Refresh();
        var ws0 = process.WorkingSet64;
        var cpu0 = process.TotalProcessorTime;
        var alloc0 = GC.GetTotalAllocatedBytes(precise: true);
        var r = Simulation.Run(Setting(users, items, dimension, steps, threads));
        var alloc = GC.GetTotalAllocatedBytes(precise: true) - alloc0;
        process.Refresh();
        var cpu = (process.TotalProcessorTime - cpu0).TotalSeconds;
        return new Measurement(users, items, steps, r.Seconds, cpu, r.UserStepsPerSecond, alloc, process.WorkingSet64 - ws0, r.Series["nan_users"].Max());
    }

    private static string Line(string label, Measurement m) => string.Create(CultureInfo.InvariantCulture,
        $"{label}: {m.Seconds:F2} s wall, {m.CpuSeconds:F2} s CPU, {m.UserStepsPerSecond:N0} user-steps/s, allocated {m.AllocatedBytes / 1e6:F1} MB in all, working set +{m.WorkingSetGrowth / 1e6:F1} MB, NaN users (max over steps) {m.NanUsers}");

    private static string LoadAverage()
    {
        try
        {
            return File.ReadAllText("/proc/loadavg").Trim();
        }
        catch (IOException)
        {
            return "unknown";
        }
    }
}
