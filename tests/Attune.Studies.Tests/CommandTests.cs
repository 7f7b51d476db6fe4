using System.Text.Json;
using Attune.Bandits;
using Attune.Cli;
using static Attune.Cli.Tests.CliHarness;
using Attune.Studies;

namespace Attune.Studies.Tests;

/// <summary>The <c>attune bandit …</c> and <c>attune study export</c> verbs, run in process.</summary>
public class CommandTests
{
    [Fact]
    public async Task Bandit_simulate_prints_one_json_document()
    {
        var (code, output, _) = await Run("bandit", "simulate", "--policy", "ucb1;thompson-beta", "--env", "bernoulli", "--arms", "3", "--rounds", "200", "--runs", "8", "--json", "--seed", "3");
        Assert.Equal(0, code);
        var doc = JsonDocument.Parse(output).RootElement;
        Assert.Equal(2, doc.GetArrayLength());
        Assert.Equal("ucb1(alpha=2)", doc[0].GetProperty("policy").GetString());
        Assert.True(doc[1].GetProperty("mean_final_regret").GetDouble() >= 0);
        var again = await Run("bandit", "simulate", "--policy", "ucb1;thompson-beta", "--env", "bernoulli", "--arms", "3", "--rounds", "200", "--runs", "8", "--json", "--seed", "3");
        Assert.Equal(output, again.Out);
    }

    [Fact]
    public async Task Bad_input_exits_2_with_one_line()
    {
        var (code, output, err) = await Run("bandit", "simulate", "--policy", "nope", "--env", "bernoulli");
        Assert.Equal(2, code);
        Assert.Empty(output);
        Assert.StartsWith("error: unknown policy 'nope'", err, StringComparison.Ordinal);
        Assert.Single(err.Trim().Split('\n'));

        var dir = TestEnvironment.TempDir();
        var csv = Path.Combine(dir, "r.csv");
        await File.WriteAllTextAsync(csv, "participant,condition,round,arm,rating\np1,cyclic,1,a,5\np1,cyclic,x,a,5\n");
        (code, _, err) = await Run("bandit", "analyze", csv);
        Assert.Equal(2, code);
        Assert.Equal($"error: {csv}:3: field 'round': 'x' is not a round number (1, 2, …)", err.Trim());
        (code, _, err) = await Run("study", "serve", "--config", Path.Combine(dir, "missing.json"));
        Assert.Equal(2, code);
        Assert.Contains("missing.json: file not found", err, StringComparison.Ordinal);
        (code, _, err) = await Run("study", "bench", "--config", TestEnvironment.DemoConfig, "--rounds", "0");
        Assert.Equal(2, code);
        Assert.Equal("error: --rounds: expected 1 to 100", err.Trim());

        // A study config with a field it does not have, a value of the wrong type, or no slot at all
        // does not start (issue 23): one line naming the field, no .NET type name.
        var demo = await File.ReadAllTextAsync(TestEnvironment.DemoConfig);
        foreach (var (json, named) in new[]
                 {
                     (demo.Replace("\"rounds\": 10,", "\"rounds\": 10, \"zzz\": 1,", StringComparison.Ordinal), "unknown field 'zzz'"),
                     (demo.Replace("\"rounds\": 10,", "\"rounds\": \"ten\",", StringComparison.Ordinal), "expected a whole number"),
                     (System.Text.RegularExpressions.Regex.Replace(demo, "\"slots\": \\d+", "\"slots\": 0"), "no condition has a slot"),
                 })
        {
            Assert.NotEqual(demo, json);
            var bad = Path.Combine(dir, "bad.json");
            await File.WriteAllTextAsync(bad, json);
            (code, output, err) = await Run("study", "serve", "--config", bad, "--db", "sqlite:" + Path.Combine(dir, "bad.db"), "--json");
            Assert.Equal(2, code);
            Assert.Empty(output);
            Assert.Contains(named, err, StringComparison.Ordinal);
            Assert.Single(err.Trim().Split('\n'));
            Assert.DoesNotMatch(@"System\.[A-Z]|LineNumber", err);
        }
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public async Task Study_export_then_bandit_analyze()
    {
        var dir = TestEnvironment.TempDir();
        var db = "sqlite:" + Path.Combine(dir, "study.db");
        var config = TestEnvironment.Demo(c => { foreach (var x in c.Conditions) { x.Slots = 6; } });
        await using (var server = await RunningServer.StartAsync(config, db))
        {
            for (var i = 0; i < 28; i++)
            {
                var p = await ApiParticipant.JoinAsync(server.Client, new { prolific_pid = $"x{i}" });
                for (var r = 1; r <= config.Rounds; r++)
                {
                    await p.RateCurrentAsync(1 + ((i + (r * r)) % 9));
                }
            }
        }

        var csv = Path.Combine(dir, "export.csv");
        var (code, _, err) = await Run("study", "export", "--db", db, "--out", csv);
        Assert.True(code == 0, err);
        Assert.Equal(1 + (28 * config.Rounds), (await File.ReadAllLinesAsync(csv)).Length);
        (code, var jsonl, _) = await Run("study", "export", "--db", db, "--format", "jsonl");
        Assert.Equal(0, code);
        Assert.Equal(28 * config.Rounds, jsonl.Trim().Split('\n').Length);
        (code, var json, _) = await Run("study", "export", "--db", db, "--json");
        Assert.Equal(0, code);
        Assert.Equal(28 * config.Rounds, JsonDocument.Parse(json).RootElement.GetArrayLength()); // --json: one JSON document, not CSV

        (code, var output, err) = await Run("bandit", "analyze", csv, "--json", "--permutations", "199");
        Assert.True(code == 0, err);
        var result = JsonSerializer.Deserialize<JsonElement>(output);
        Assert.Equal(28, result.GetProperty("participants").GetInt32());
        Assert.Equal(config.Conditions.Count, result.GetProperty("enjoyment").GetArrayLength());
        Assert.True(result.GetProperty("verdict").TryGetProperty("fixed_preferences_rejected", out _));
        (code, output, _) = await Run("bandit", "analyze", csv);
        Assert.Equal(0, code);
        Assert.Contains("fixed preferences", output, StringComparison.Ordinal);
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public async Task The_reproduction_is_registered_and_runs_quick()
    {
        var dir = TestEnvironment.TempDir();
        var (code, output, err) = await Run("repro", "run", "bandit-preference-dynamics", "--quick", "--json", "--out", dir);
        Assert.True(code == 0, err);
        var run = JsonDocument.Parse(output).RootElement;
        Assert.True(run.GetProperty("seconds").GetDouble() < 60);
        Assert.All(run.GetProperty("claims").EnumerateArray(), c => Assert.True(c.GetProperty("verdict").GetString() == "reproduced", c.GetProperty("evidence").GetString()));
        Assert.True(File.Exists(Path.Combine(run.GetProperty("report_dir").GetString()!, "report.md")));
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public void Policies_rebuilt_from_ratings_match_a_live_policy()
    {
        // The server never serialises bandit state: replaying stored ratings must give the live policy's choice.
        var config = TestEnvironment.Demo();
        var engine = new StudyEngine(config);
        var live = (Ucb1Policy)Policies.Create("ucb1:alpha=1", config.Arms.Count, config.Rounds);
        var ratings = new List<RatingRecord>();
        var rng = new Random(9);
        for (var r = 1; r <= 8; r++)
        {
            var arm = live.SelectArm(rng);
            var rating = 1 + rng.Next(9);
            live.Update(arm, engine.Scale.ToReward(rating));
            ratings.Add(new RatingRecord(r, config.Arms[arm].Id, "x", rating, DateTimeOffset.UtcNow));
            var rebuilt = (Ucb1Policy)engine.RebuildPolicy("ucb1", ratings);
            Assert.Equal(live.SelectArm(rng), rebuilt.SelectArm(rng));
            Assert.Equal(live.Counts, rebuilt.Counts);
        }
    }
}
