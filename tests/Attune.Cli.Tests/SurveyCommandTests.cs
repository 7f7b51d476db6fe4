// OpenAIChatModelFactory is marked experimental (OPENAI001); it is how a test builds an OpenAI response with log-probs.
#pragma warning disable OPENAI001
using System.Text.Json;
using Attune.Llm;
using Microsoft.Extensions.AI;
using OpenAI.Chat;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using AiChatRole = Microsoft.Extensions.AI.ChatRole;

namespace Attune.Cli.Tests;

/// <summary><c>attune survey test | power | simulate</c> and the survey-misalignment reproduction, through the real command line.</summary>
public class SurveyCommandTests
{
    private static readonly string RepoRoot = FindRepoRoot();
    private static readonly string SimulateData = Path.Combine(RepoRoot, "tests", "Attune.Surveys.Tests", "Data", "simulate");

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Attune.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Attune.slnx not found above the test folder");
    }

    private const string Human = """
        {"question":"Q1","group":"RACE=Black","options":["A","B","C"],"counts":[10,20,30]}
        {"question":"Q1","group":"RACE=White","options":["A","B","C"],"counts":[20,20,20]}
        {"question":"Q2","group":"RACE=Black","options":["A","B","Refused"],"counts":[40,10,3]}
        {"question":"Q2","group":"RACE=White","options":["A","B","Refused"],"counts":[25,25,1]}
        """;

    private const string Llm = """
        {"question":"Q1","group":"RACE=Black","options":["A","B","C"],"counts":[30,20,10]}
        {"question":"Q1","group":"RACE=White","options":["A","B","C"],"answers":["A","B","C","A","B","C"]}
        {"question":"Q2","group":"RACE=Black","options":["A","B","Refused"],"probabilities":[0.2,0.7,0.1],"n":50}
        {"question":"Q2","group":"RACE=White","options":["A","B","Refused"],"counts":[26,24,0]}
        """;

    private static string Write(CliHarness.TempDir dir, string name, string text)
    {
        var path = Path.Combine(dir.Path, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public async Task Survey_test_json_has_the_named_fields_and_closed_form_values()
    {
        using var dir = new CliHarness.TempDir();
        var human = Write(dir, "human.jsonl", Human);
        var llm = Write(dir, "llm.jsonl", Llm);
        var (code, stdout, stderr) = await CliHarness.Run("survey", "test", "--human", human, "--llm", llm, "--asymptotic", "--json", "--bootstrap", "200");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var results = doc.RootElement.GetProperty("results");
        Assert.Equal(4, results.GetArrayLength());
        foreach (var r in results.EnumerateArray())
        {
            foreach (var field in new[] { "question", "group", "statistic", "p_value", "p_adjusted", "rejected", "n_human", "n_llm", "tv_distance" })
                Assert.True(r.TryGetProperty(field, out _), $"results[] lacks '{field}'");
        }
        var first = results[0];
        Assert.Equal("Q1", first.GetProperty("question").GetString());
        Assert.Equal(20.0, first.GetProperty("statistic").GetDouble(), 10); // expected 20 in every cell
        Assert.Equal(Math.Exp(-10), first.GetProperty("p_value").GetDouble(), 14);
        Assert.Equal(60, first.GetProperty("n_human").GetInt32());
        Assert.Equal(1.0 / 3, first.GetProperty("tv_distance").GetDouble(), 12);
        Assert.True(first.GetProperty("rejected").GetBoolean());
        Assert.Equal(50, results[2].GetProperty("n_human").GetInt32()); // Q2, RACE=Black: the 3 refusals dropped, 40 + 10
        var summary = doc.RootElement.GetProperty("summary");
        Assert.Equal(2, summary.GetArrayLength());
        foreach (var s in summary.EnumerateArray())
        {
            foreach (var field in new[] { "group", "questions", "rejected", "share_rejected" })
                Assert.True(s.TryGetProperty(field, out _), $"summary[] lacks '{field}'");
            Assert.Equal(2, s.GetProperty("questions").GetInt32());
        }
        Assert.Equal("", stderr); // --json: nothing but the document, no logs
    }

    [Fact]
    public async Task Survey_test_permutation_run_writes_a_report_with_bar_chart_and_heat_map()
    {
        using var dir = new CliHarness.TempDir();
        var report = Path.Combine(dir.Path, "report");
        var (code, stdout, stderr) = await CliHarness.Run("survey", "test", "--human", Write(dir, "h.jsonl", Human), "--llm", Write(dir, "l.jsonl", Llm),
            "--permutations", "2000", "--stat", "ks", "--correction", "holm", "--report", report, "--seed", "3");
        Assert.True(code == 0, stderr);
        Assert.Contains("RACE=Black", stdout, StringComparison.Ordinal);
        Assert.Contains("seed 3", stdout, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(report, "survey-share-rejected.png")));
        Assert.True(File.Exists(Path.Combine(report, "survey-heatmap.png")));
        Assert.Contains("survey-heatmap.png", await File.ReadAllTextAsync(Path.Combine(report, "report.md")), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("llm", 2, """{"question":"Q1","group":"RACE=White","options":["A","B","C","D"],"counts":[1,2,3,4]}""", "field 'options'", "4 options")]
    [InlineData("llm", 2, """{"question":"Q1","group":"RACE=Asian","options":["A","B","C"],"counts":[1,2,3]}""", "field 'group'", "unknown group 'RACE=Asian'")]
    [InlineData("human", 2, """{"question":"Q1","group":"RACE=White","options":["A","B","C"],"counts":[20,-1,20]}""", "field 'counts'", "negative")]
    [InlineData("human", 2, """{"question":"Q1","group":"RACE=White","options":["A","B","C"],"counts":[20,20]}""", "field 'counts'", "2 values for 3 options")]
    public async Task Malformed_inputs_exit_2_naming_the_line(string which, int line, string badLine, string field, string detail)
    {
        using var dir = new CliHarness.TempDir();
        var humanLines = Human.Split('\n');
        var llmLines = Llm.Split('\n');
        if (which == "llm") llmLines[line - 1] = badLine; else humanLines[line - 1] = badLine;
        var human = Write(dir, "human.jsonl", string.Join('\n', humanLines));
        var llm = Write(dir, "llm.jsonl", string.Join('\n', llmLines));
        var (code, stdout, stderr) = await CliHarness.Run("survey", "test", "--human", human, "--llm", llm, "--json");
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        var message = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"error: {(which == "llm" ? llm : human)}:{line}: {field}", message, StringComparison.Ordinal);
        Assert.Contains(detail, message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--stat", "ks", "--asymptotic")]
    [InlineData("--stat", "median")]
    [InlineData("--correction", "fdr")]
    [InlineData("--permutations", "0")]
    [InlineData("--alpha", "1.5")]
    public async Task Bad_options_exit_2(params string[] extra)
    {
        using var dir = new CliHarness.TempDir();
        var (code, _, stderr) = await CliHarness.Run(["survey", "test", "--human", Write(dir, "h.jsonl", Human), "--llm", Write(dir, "l.jsonl", Llm), .. extra]);
        Assert.Equal(2, code);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task Survey_test_reads_long_csv_and_needs_the_llm_file()
    {
        using var dir = new CliHarness.TempDir();
        var csv = Write(dir, "h.csv", "question,group,option,count\nQ1,RACE=Black,A,10\nQ1,RACE=Black,B,20\nQ1,RACE=Black,C,30\n");
        var llm = Write(dir, "l.csv", "question,group,option,count\nQ1,RACE=Black,A,30\nQ1,RACE=Black,B,20\nQ1,RACE=Black,C,10\n");
        var (code, stdout, stderr) = await CliHarness.Run("survey", "test", "--human", csv, "--llm", llm, "--asymptotic", "--json");
        Assert.True(code == 0, stderr);
        Assert.Equal(20.0, JsonDocument.Parse(stdout).RootElement.GetProperty("results")[0].GetProperty("statistic").GetDouble(), 10);

        var (missing, _, err) = await CliHarness.Run("survey", "test", "--human", csv);
        Assert.Equal(2, missing);
        Assert.Contains("--llm FILE", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Survey_power_json_gives_a_curve_and_the_required_sample()
    {
        var (code, stdout, stderr) = await CliHarness.Run("survey", "power", "--tv", "0.15", "--n-llm", "50,200,800", "--replicates", "200", "--asymptotic", "--json");
        Assert.True(code == 0, stderr);
        var root = JsonDocument.Parse(stdout).RootElement;
        var points = root.GetProperty("points").EnumerateArray().ToList();
        Assert.Equal([50, 200, 800], points.Select(p => p.GetProperty("n_llm").GetInt32()));
        Assert.True(points[2].GetProperty("power").GetDouble() > points[0].GetProperty("power").GetDouble());
        Assert.Equal(JsonValueKind.Number, root.GetProperty("required_n_llm").ValueKind);

        var (bad, _, _) = await CliHarness.Run("survey", "power", "--tv", "0.9");
        Assert.Equal(2, bad);
    }

    private static string[] SimulateArgs(string llm, string output, bool logprobs) =>
    [
        "survey", "simulate", "--llm", llm, "--questions", Path.Combine(SimulateData, "questions.jsonl"),
        "--groups", "POLPARTY=Democrat,POLPARTY=Republican", "--seed", "7", "--out", output, "--concurrency", "1",
        .. logprobs ? new[] { "--logprobs", "--samples", "100", "--style", "qa" } : ["--samples", "20", "--style", "qa,bio,portray"],
    ];

    [Fact]
    public async Task Survey_simulate_runs_end_to_end_from_the_committed_replay_log()
    {
        using var dir = new CliHarness.TempDir();
        var log = Path.Combine(SimulateData, "simulate.replay.jsonl");
        var sampled = Path.Combine(dir.Path, "sampled.jsonl");
        var (code, stdout, stderr) = await CliHarness.Run([.. SimulateArgs("replay:" + log, sampled, logprobs: false), "--json"]);
        Assert.True(code == 0, stderr);
        var root = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(18, root.GetProperty("records").GetArrayLength()); // 3 questions x 2 groups x 3 styles
        Assert.True(root.GetProperty("retries").GetInt32() > 0, "the scripted model gives some unreadable first replies");
        Assert.All(root.GetProperty("records").EnumerateArray(), r => Assert.Equal("sampled", r.GetProperty("method").GetString()));

        var viaLogprobs = Path.Combine(dir.Path, "logprobs.jsonl");
        (code, stdout, stderr) = await CliHarness.Run([.. SimulateArgs("replay:" + log, viaLogprobs, logprobs: true), "--json"]);
        Assert.True(code == 0, stderr);
        Assert.All(JsonDocument.Parse(stdout).RootElement.GetProperty("records").EnumerateArray(), r => Assert.Equal("logprobs", r.GetProperty("method").GetString()));

        // Both outputs are LLM answer files that 'survey test' reads against the human answers.
        foreach (var answers in new[] { sampled, viaLogprobs })
        {
            (code, stdout, stderr) = await CliHarness.Run("survey", "test", "--human", Path.Combine(SimulateData, "human.jsonl"), "--llm", answers, "--permutations", "2000", "--json");
            Assert.True(code == 0, stderr);
            var results = JsonDocument.Parse(stdout).RootElement.GetProperty("results");
            Assert.Equal(6, results.GetArrayLength());
            // The scripted Democrat persona answers GUNPRIORITY like the Democrats in human.jsonl; the Republican one does not.
            var gun = results.EnumerateArray().Where(r => r.GetProperty("question").GetString() == "GUNPRIORITY").ToDictionary(r => r.GetProperty("group").GetString()!);
            Assert.False(gun["POLPARTY=Democrat"].GetProperty("rejected").GetBoolean());
            Assert.True(gun["POLPARTY=Republican"].GetProperty("rejected").GetBoolean());
        }

        // A seed the log was not recorded with is a replay miss: exit 2, one line.
        var miss = SimulateArgs("replay:" + log, Path.Combine(dir.Path, "x.jsonl"), logprobs: false);
        miss[Array.IndexOf(miss, "7")] = "8";
        (code, _, stderr) = await CliHarness.Run(miss);
        Assert.Equal(2, code);
        Assert.Contains("no recorded answer", stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// The committed replay log is what 'attune survey simulate --record' writes against <see cref="ScriptedPersonaModel"/>.
    /// This records it again and checks it holds the same requests and answers; with
    /// ATTUNE_REGENERATE_SURVEY_LOG=1 it rewrites the committed log instead.
    /// </summary>
    [Fact]
    public async Task The_committed_replay_log_is_a_recording_of_the_scripted_model()
    {
        LlmEndpoints.Register("scripted-survey", _ => new ScriptedPersonaModel());
        try
        {
            using var dir = new CliHarness.TempDir();
            bool regenerate = Environment.GetEnvironmentVariable("ATTUNE_REGENERATE_SURVEY_LOG") == "1";
            var committed = Path.Combine(SimulateData, "simulate.replay.jsonl");
            var log = regenerate ? committed : Path.Combine(dir.Path, "log.jsonl");
            if (regenerate) File.Delete(log);
            foreach (bool logprobs in new[] { false, true })
            {
                var (code, _, stderr) = await CliHarness.Run([.. SimulateArgs("scripted-survey:persona", Path.Combine(dir.Path, "out.jsonl"), logprobs), "--record", log]);
                Assert.True(code == 0, stderr);
            }
            static List<string> Exchanges(string path) => [.. File.ReadAllLines(path).Select(l =>
            {
                var e = JsonDocument.Parse(l).RootElement;
                return e.GetProperty("key").GetString() + " " + e.GetProperty("response").GetProperty("messages").GetRawText();
            }).Order(StringComparer.Ordinal)];
            Assert.Equal(Exchanges(committed), Exchanges(log));
        }
        finally
        {
            LlmEndpoints.Unregister("scripted-survey");
        }
    }

    [Fact]
    public async Task Survey_misalignment_is_registered_and_runs_quick()
    {
        var (code, stdout, _) = await CliHarness.Run("repro", "list", "--json");
        Assert.Equal(0, code);
        Assert.Contains("\"survey-misalignment\"", stdout, StringComparison.Ordinal);

        using var dir = new CliHarness.TempDir();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        (code, stdout, var stderr) = await CliHarness.Run("repro", "run", "survey-misalignment", "--quick", "--json", "--out", dir.Path);
        Assert.True(code == 0, stderr);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"took {clock.Elapsed}");
        var claims = JsonDocument.Parse(stdout).RootElement.GetProperty("claims");
        Assert.Equal(5, claims.GetArrayLength());
        var verdicts = claims.EnumerateArray().Select(c => (Claim: c.GetProperty("claim").GetString()!, Verdict: c.GetProperty("verdict").GetString()!, Evidence: c.GetProperty("evidence").GetString())).ToList();
        // The four claims about the test itself are measured on synthetic data; the one about real models needs their answers.
        Assert.All(verdicts.Take(4), c => Assert.True(c.Verdict == "reproduced", c.Claim + ": " + c.Evidence));
        Assert.Equal("not measured", verdicts[4].Verdict);
        Assert.Contains("real models", verdicts[4].Claim, StringComparison.Ordinal);
    }
}

/// <summary>
/// A scripted stand-in for a language model that answers survey questions "as" a party member:
/// Democrats lean to the first options, Republicans to the last. Deterministic in the request's
/// seed; about one first reply in ten is unreadable; log-prob requests get an OpenAI-style
/// response with the first token's top log-probs. This is what the committed replay log records.
/// </summary>
internal sealed class ScriptedPersonaModel : IChatClient
{
    public Task<ChatResponse> GetResponseAsync(IEnumerable<AiChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var list = messages.ToList();
        var prompt = list[0].Text;
        int k = prompt.Split('\n').Count(l => l.Length > 2 && l[1] == '.' && l[0] >= 'A' && l[0] <= 'Z');
        bool democrat = prompt.Contains("Democrat", StringComparison.Ordinal);
        // Preference over the non-refusal options (the last option is "Refused"), then a little mass on refusing.
        var weights = Enumerable.Range(0, k).Select(i => i == k - 1 ? 0.02 : democrat ? Math.Pow(0.25, i) : Math.Pow(1.6, i)).ToArray();
        double sum = weights.Sum();
        var p = weights.Select(w => w / sum).ToArray();
        var rng = new Random((int)(options?.Seed ?? 0));
        string Letter(int i) => ((char)('A' + i)).ToString();

        if (options?.AdditionalProperties?.ContainsKey("logprobs") == true)
        {
            int best = Array.IndexOf(p, p.Max());
            var top = Enumerable.Range(0, k).Select(i => OpenAIChatModelFactory.ChatTokenTopLogProbabilityDetails(i % 2 == 0 ? Letter(i) : " " + Letter(i), (float)Math.Log(p[i] * 0.95), null)).ToList();
            top.Add(OpenAIChatModelFactory.ChatTokenTopLogProbabilityDetails("The", (float)Math.Log(0.05), null));
            var completion = OpenAIChatModelFactory.ChatCompletion(id: "scripted", role: ChatMessageRole.Assistant, content: new ChatMessageContent(Letter(best)),
                contentTokenLogProbabilities: [OpenAIChatModelFactory.ChatTokenLogProbabilityDetails(Letter(best), (float)Math.Log(p[best] * 0.95), null, top)]);
            return Task.FromResult(new ChatResponse(new AiChatMessage(AiChatRole.Assistant, Letter(best))) { RawRepresentation = completion, ModelId = "scripted-persona" });
        }

        if (list.Count == 1 && rng.NextDouble() < 0.1)
            return Task.FromResult(new ChatResponse(new AiChatMessage(AiChatRole.Assistant, "That's a hard one; it depends on the situation.")) { ModelId = "scripted-persona" });
        double u = rng.NextDouble(), c = 0;
        int choice = 0;
        while (choice < k - 1 && u >= (c += p[choice])) choice++;
        string letter = Letter(choice);
        string reply = rng.Next(5) switch
        {
            0 => letter,
            1 => letter + ".",
            2 => "Answer: " + letter,
            3 => "(" + letter + ")",
            _ => letter + ") I would pick this one.",
        };
        return Task.FromResult(new ChatResponse(new AiChatMessage(AiChatRole.Assistant, reply)) { ModelId = "scripted-persona" });
    }

    public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<AiChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException();

    public object? GetService(Type serviceType, object? serviceKey = null) => null;

    public void Dispose()
    {
    }
}
