using System.Diagnostics;

namespace Attune.Interaction;

/// <summary>The metric series of one run.</summary>
public sealed class SimulationResult
{
    public required string Scenario { get; init; }

    public required string Recommender { get; init; }

    public required int Seed { get; init; }

    public required int Users { get; init; }

    public required int Steps { get; init; }

    /// <summary>Metric name → value after each step.</summary>
    public required SortedDictionary<string, double[]> Series { get; init; }

    public required double Seconds { get; init; }

    public double UserStepsPerSecond => Seconds > 0 ? Users * (double)Steps / Seconds : 0;

    /// <summary>The world at the end of the run.</summary>
    public required World World { get; init; }

    public double Final(string metric) => Series[metric][^1];
}

/// <summary>
/// Runs a <see cref="Scenario"/>: the coupled dynamical system x_{t+1} = f(x_t, u_t, w_t),
/// y_t = g(x_t, u_t, w_t) of Dean et al. (2024), one step at a time:
/// <list type="number">
/// <item>interventions due at t switch parts;</item>
/// <item>the recommender retrains if due (<see cref="Recommender.BeginStep"/>);</item>
/// <item>every user, in parallel: the recommender scores all items, the top k (never a consumed
/// item unless repeats are allowed) form the slate, the choice model picks and rates, the
/// interaction is recorded, and the user model updates the user;</item>
/// <item>the recommender observes the step, creators move, metrics observe.</item>
/// </list>
/// Noise comes from counter-based streams keyed by (seed, component, step, user), so a run is
/// deterministic for its seed whatever the thread count, and two runs with the same seed share
/// all exogenous noise w_t (common random numbers).
/// </summary>
public static class Simulation
{
    public const long UserInitStream = 1;
    public const long ItemInitStream = 2;
    public const long ChoiceStream = 3;
    public const long RecommenderStream = 4;
    public const long CreatorStream = 5;
    public const long MetricStream = 6;
    public const long IdiosyncrasyStream = 7;

    /// <summary>Builds the initial world of a scenario (the same for every run with its seed).</summary>
    public static World CreateWorld(Scenario s)
    {
        var world = new World(s.Users, s.Items, s.Dimension, s.Topics) { Seed = s.Seed };
        var userKey = StreamRng.Key(s.Seed, UserInitStream);
        for (var u = 0; u < s.Users; u++)
        {
            var rng = StreamRng.For(userKey, 0, u);
            s.UserInit.Fill(world.Preference(u), ref rng);
        }

        var itemKey = StreamRng.Key(s.Seed, ItemInitStream);
        for (var i = 0; i < s.Items; i++)
        {
            var rng = StreamRng.For(itemKey, 0, i);
            s.ItemInit.Fill(world.Item(i), ref rng);
            world.ItemTopics[i] = i % world.Topics;
        }

        s.Customize?.Invoke(world);
        world.Preferences.CopyTo(world.InitialPreferences, 0);
        world.ItemsChanged();
        return world;
    }

    /// <summary>Runs the scenario, optionally with another recommender (the counterfactual).</summary>
    public static SimulationResult Run(Scenario s, Func<Recommender>? recommender = null, CancellationToken cancellationToken = default, Action<int>? progress = null)
    {
        var clock = Stopwatch.StartNew();
        var world = CreateWorld(s);
        var users = s.UserModel();
        var choice = s.Choice;
        var rec = (recommender ?? s.Recommender)();
        var recKey = StreamRng.Key(s.Seed, RecommenderStream);
        var choiceKey = StreamRng.Key(s.Seed, ChoiceStream);
        var creatorKey = StreamRng.Key(s.Seed, CreatorStream);
        users.Initialize(world);
        rec.Initialize(world, users, recKey);
        var creators = s.Creators?.Invoke();
        creators?.Initialize(world, creatorKey);
        var metrics = s.Metrics.Select(f => f()).ToList();
        var names = new List<string>();
        foreach (var metric in metrics)
        {
            metric.Initialize(world, StreamRng.Key(s.Seed, MetricStream));
            names.AddRange(metric.Names);
        }

        var series = new double[names.Count][];
        for (var k = 0; k < series.Length; k++)
        {
            series[k] = new double[s.Horizon];
        }

        var values = new double[names.Count];
        var record = new StepRecord(s.Users, s.SlateSize);
        var threads = s.Threads > 0 ? s.Threads : Environment.ProcessorCount;
        var blocks = Math.Max(1, Math.Min(threads, s.Users / 64));
        var scratch = new float[blocks][];
        var slateValues = new float[blocks][];
        for (var b = 0; b < blocks; b++)
        {
            scratch[b] = new float[s.Items];
            slateValues[b] = new float[s.SlateSize];
        }

        // One worker and one delegate for the whole run: the step loop allocates nothing.
        var worker = new StepWorker(world, record, scratch, slateValues, s.Users, blocks, recKey, choiceKey) { Users = users, Choice = choice, Recommender = rec };
        Action<int> block = worker.Block;
        var parallelOptions = new ParallelOptions { MaxDegreeOfParallelism = threads, CancellationToken = cancellationToken };
        var interventions = s.Interventions.OrderBy(i => i.Step).ToList();
        var next = 0;
        for (var t = 0; t < s.Horizon; t++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            world.Step = t;
            record.Step = t;
            while (next < interventions.Count && interventions[next].Step <= t)
            {
                var iv = interventions[next++];
                if (iv.Users is not null)
                {
                    users = iv.Users();
                    users.Initialize(world);
                }

                if (iv.Choice is not null)
                {
                    choice = iv.Choice;
                }

                if (iv.Recommender is not null)
                {
                    rec = iv.Recommender();
                    rec.Initialize(world, users, recKey);
                }
            }

            rec.BeginStep(world);
            worker.Users = users;
            worker.Choice = choice;
            worker.Recommender = rec;
            worker.Step = t;
            if (blocks == 1)
            {
                worker.Block(0);
            }
            else
            {
                Parallel.For(0, blocks, parallelOptions, block);
            }

            for (var u = 0; u < s.Users; u++)
            {
                var item = record.Chosen[u];
                if (item >= 0)
                {
                    world.Popularity[item]++;
                }
            }

            rec.Observe(world, record);
            creators?.Step(world, record, creatorKey);
            var offset = 0;
            foreach (var metric in metrics)
            {
                var span = values.AsSpan(offset, metric.Names.Count);
                metric.Measure(world, record, creators, span);
                for (var k = 0; k < span.Length; k++)
                {
                    series[offset + k][t] = span[k];
                }

                offset += span.Length;
            }

            progress?.Invoke(t);
        }

        clock.Stop();
        var dict = new SortedDictionary<string, double[]>(StringComparer.Ordinal);
        for (var k = 0; k < names.Count; k++)
        {
            dict[names[k]] = series[k];
        }

        return new SimulationResult
        {
            Scenario = s.Name,
            Recommender = rec.Name,
            Seed = s.Seed,
            Users = s.Users,
            Steps = s.Horizon,
            Series = dict,
            Seconds = clock.Elapsed.TotalSeconds,
            World = world,
        };
    }

    /// <summary>The user phase of a step over one contiguous block of users.</summary>
    private sealed class StepWorker(World world, StepRecord record, float[][] scratch, float[][] slateValues, int users, int blocks, ulong recKey, ulong choiceKey)
    {
        public required UserModel Users { get; set; }

        public required ChoiceModel Choice { get; set; }

        public required Recommender Recommender { get; set; }

        public int Step { get; set; }

        public void Block(int b)
        {
            var from = (int)((long)users * b / blocks);
            var to = (int)((long)users * (b + 1) / blocks);
            for (var u = from; u < to; u++)
            {
                ServeUser(world, Users, Choice, Recommender, record, u, Step, recKey, choiceKey, scratch[b], slateValues[b]);
            }
        }
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void ServeUser(World world, UserModel users, ChoiceModel choice, Recommender rec, StepRecord record,
        int u, int t, ulong recKey, ulong choiceKey, float[] scores, float[] top)
    {
        var recRng = StreamRng.For(recKey, t, u);
        var choiceRng = StreamRng.For(choiceKey, t, u);
        rec.Score(world, u, scores, ref recRng);
        if (!choice.Repeat)
        {
            var words = world.Words;
            var bits = world.ConsumedBits.AsSpan(u * words, words);
            for (var w = 0; w < words; w++)
            {
                var word = bits[w];
                while (word != 0)
                {
                    var bit = System.Numerics.BitOperations.TrailingZeroCount(word);
                    scores[(w << 6) + bit] = float.NegativeInfinity;
                    word &= word - 1;
                }
            }
        }

        var slate = record.Slates.AsSpan(u * record.SlateSize, record.SlateSize);
        VectorOps.TopK(scores, slate, top);
        var item = choice.Choose(world, users, u, slate, ref choiceRng, out var utility, out var rating);
        record.Chosen[u] = item;
        record.Ratings[u] = rating;
        record.Utilities[u] = utility;
        if (item >= 0)
        {
            world.Record(u, item, rating);
        }

        users.Update(world, u, item, rating);
    }
}
