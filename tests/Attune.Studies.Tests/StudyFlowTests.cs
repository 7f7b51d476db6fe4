using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Attune.Bandits;
using Attune.Studies;

namespace Attune.Studies.Tests;

/// <summary>The study server on real SQLite, and the same checks on real PostgreSQL.</summary>
public class StudyFlowTests
{
    [Fact]
    public Task Every_condition_completes_resumes_and_exports_on_sqlite() => EveryConditionCompletes(null);

    [PostgresFact]
    public Task Every_condition_completes_resumes_and_exports_on_postgres() => PostgresSerial.Run(() => EveryConditionCompletes("postgres:" + TestEnvironment.PostgresConnectionString));

    private static async Task EveryConditionCompletes(string? db)
    {
        var config = TestEnvironment.Demo(c => c.AdminToken = RunningServer.AdminToken);
        await using var server = await RunningServer.StartAsync(config, db);
        var participants = new List<ApiParticipant>();
        for (var i = 0; i < config.Conditions.Count; i++)
        {
            participants.Add(await ApiParticipant.JoinAsync(server.Client, new { prolific_pid = $"pp{i}", study_id = "s1", session_id = $"sess{i}" }));
        }

        // Least-filled assignment: one participant per condition.
        Assert.Equal(config.Conditions.Select(c => c.Name).Order(), participants.Select(p => p.Condition).Order());
        foreach (var p in participants)
        {
            for (var r = 1; r <= config.Rounds; r++)
            {
                // Refreshing shows the same round and item.
                var before = await p.NextAsync();
                var again = await p.NextAsync();
                Assert.Equal(before.GetRawText(), again.GetRawText());
                Assert.Equal(r, await p.RateCurrentAsync(1 + ((r * 3) % 9)));
            }

            var q = await p.NextAsync();
            Assert.Equal("questionnaire", q.GetProperty("stage").GetString());
            Assert.False(q.GetProperty("done").GetBoolean());
            using var answered = await server.Client.PostAsJsonAsync($"/api/participants/{p.Token}/questionnaire", new { answers = new { overall = "7", comments = "nice" } });
            Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
            var done = await p.NextAsync();
            Assert.True(done.GetProperty("done").GetBoolean());
            Assert.Equal(config.CompletionCode, done.GetProperty("completion_code").GetString());
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/admin/export?format=csv");
        request.Headers.Authorization = new("Bearer", RunningServer.AdminToken);
        using var export = await server.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, export.StatusCode);
        var csv = await export.Content.ReadAsStringAsync();
        var lines = csv.TrimEnd('\n').Split('\n');
        Assert.Equal(1 + (config.Conditions.Count * config.Rounds), lines.Length);
        foreach (var column in (string[])["participant", "prolific_pid", "study_id", "session_id", "condition", "round", "arm", "item_id", "rating", "submitted_at"])
        {
            Assert.Contains(column, lines[0].Split(','));
        }

        Assert.Contains(",pp0,s1,sess0,", csv, StringComparison.Ordinal);
        Assert.DoesNotContain(participants[0].Token, csv, StringComparison.Ordinal);

        // The export is the analysis's input.
        var responses = ResponseCsv.Read(new StringReader(csv), "export.csv");
        var analysis = PreferenceAnalysis.Analyze(responses, 1, permutations: 99, bootstrap: 200);
        Assert.Equal(config.Conditions.Count, analysis.Participants);
        Assert.Equal(config.Conditions.Count * (config.Rounds - 1), analysis.Ratings);

        using var jsonl = new HttpRequestMessage(HttpMethod.Get, "/api/admin/export?format=jsonl");
        jsonl.Headers.Authorization = new("Bearer", RunningServer.AdminToken);
        using var jl = await server.Client.SendAsync(jsonl);
        var first = JsonDocument.Parse((await jl.Content.ReadAsStringAsync()).Split('\n')[0]).RootElement;
        Assert.Equal("pp0", first.GetProperty("prolific_pid").GetString());

        using var progress = new HttpRequestMessage(HttpMethod.Get, "/api/admin/progress");
        progress.Headers.Authorization = new("Bearer", RunningServer.AdminToken);
        using var pr = await server.Client.SendAsync(progress);
        var pj = await pr.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(config.Conditions.Count, pj.GetProperty("completed").GetInt32());
    }

    [Fact]
    public async Task Resubmitting_a_round_is_idempotent_and_a_restart_resumes_at_the_same_round()
    {
        var dir = TestEnvironment.TempDir();
        var db = "sqlite:" + Path.Combine(dir, "study.db");
        var config = TestEnvironment.Demo(c => c.Conditions = [new ConditionConfig { Name = "ucb1", Policy = "ucb1", Slots = 5 }]);
        string token;
        string nextBefore;
        await using (var server = await RunningServer.StartAsync(config, db))
        {
            var p = await ApiParticipant.JoinAsync(server.Client);
            token = p.Token;
            for (var r = 0; r < 3; r++)
            {
                await p.RateCurrentAsync(r + 4);
            }

            var next = await p.NextAsync();
            var item = next.GetProperty("item").GetProperty("id").GetString();
            using var first = await p.PostAsync(new { round = 4, item_id = item, rating = 8 });
            using var again = await p.PostAsync(new { round = 4, item_id = item, rating = 8 });
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
            Assert.Equal(await first.Content.ReadAsStringAsync(), await again.Content.ReadAsStringAsync());
            using var changed = await p.PostAsync(new { round = 4, item_id = item, rating = 2 });
            Assert.Equal(HttpStatusCode.Conflict, changed.StatusCode);
            nextBefore = (await p.NextAsync()).GetRawText();
            Assert.Equal(4, (await server.Store.ExportAsync(default)).Count);
        }

        // A new server process on the same database rebuilds the bandit from the stored ratings.
        await using (var server = await RunningServer.StartAsync(config, db))
        {
            var resumed = await server.Client.GetFromJsonAsync<JsonElement>($"/api/participants/{token}/next");
            Assert.Equal(nextBefore, resumed.GetRawText());
            Assert.Equal(5, resumed.GetProperty("round").GetInt32());
        }

        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public async Task Self_selected_participants_choose_from_shuffled_arms_first()
    {
        var config = TestEnvironment.Demo(c => c.Conditions = [new ConditionConfig { Name = "self-selected", Slots = 5 }]);
        await using var server = await RunningServer.StartAsync(config);
        var p = await ApiParticipant.JoinAsync(server.Client);
        var next = await p.NextAsync();
        Assert.Equal("choose", next.GetProperty("stage").GetString());
        var arms = next.GetProperty("choices").EnumerateArray().Select(c => c.GetProperty("arm").GetString()).ToList();
        Assert.Equal(config.Arms.Select(a => a.Id).Order(), arms.Order());
        Assert.Equal(JsonValueKind.Null, next.GetProperty("item").ValueKind);

        // Rating before choosing is refused; choosing reveals an item of that arm.
        using var early = await p.PostAsync(new { round = 1, item_id = "riddle-1", rating = 5 });
        Assert.Equal(HttpStatusCode.BadRequest, early.StatusCode);
        using var chose = await p.PostAsync(new { round = 1, arm = "wordplay" });
        var after = await chose.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("wordplay", after.GetProperty("item").GetProperty("arm").GetString());
        using var other = await p.PostAsync(new { round = 1, arm = "riddles" });
        Assert.Equal(HttpStatusCode.Conflict, other.StatusCode);
        using var rated = await p.PostAsync(new { round = 1, item_id = after.GetProperty("item").GetProperty("id").GetString(), rating = 9 });
        Assert.Equal(HttpStatusCode.OK, rated.StatusCode);
        var rows = await server.Store.ExportAsync(default);
        Assert.Equal("wordplay", Assert.Single(rows).Arm);
    }

    [Fact]
    public void Config_errors_name_file_and_field()
    {
        var dir = TestEnvironment.TempDir();
        var path = Path.Combine(dir, "bad.json");
        File.WriteAllText(path, """{"rounds": 5, "arms": [{"id": "a", "items": [{"id": "x", "text": "t"}]}], "conditions": [{"name": "nope", "slots": 3}]}""");
        var ex = Assert.Throws<Attune.Core.Errors.AttuneInputException>(() => StudyConfig.Load(path));
        Assert.StartsWith($"{path}: field 'conditions[0].policy': unknown policy 'nope'", ex.Message, StringComparison.Ordinal);
        File.WriteAllText(path, "{\n  \"rounds\": \"ten\"\n}");
        ex = Assert.Throws<Attune.Core.Errors.AttuneInputException>(() => StudyConfig.Load(path));
        Assert.StartsWith($"{path}:2: field '$.rounds'", ex.Message, StringComparison.Ordinal);
        Directory.Delete(dir, recursive: true);
    }
}

/// <summary>PostgreSQL tests share one database: they run one at a time.</summary>
public static class PostgresSerial
{
    private static readonly SemaphoreSlim Gate = new(1, 1);

    public static async Task Run(Func<Task> test)
    {
        ArgumentNullException.ThrowIfNull(test);
        await Gate.WaitAsync();
        try
        {
            await test();
        }
        finally
        {
            Gate.Release();
        }
    }
}
