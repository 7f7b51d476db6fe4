// OpenAIChatModelFactory.ChatCompletion is marked experimental (OPENAI001); it is the supported way to build a response in tests.
#pragma warning disable OPENAI001
using Attune.Llm;
using Attune.Surveys.Data;
using Attune.Surveys.Simulation;
using Microsoft.Extensions.AI;
using OpenAI.Chat;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using AiChatRole = Microsoft.Extensions.AI.ChatRole;

namespace Attune.Surveys.Tests;

/// <summary>A chat client that answers from a script: a function of the conversation and the options.</summary>
internal sealed class ScriptedClient(Func<IReadOnlyList<AiChatMessage>, ChatOptions?, ChatResponse> answer) : IChatClient
{
    public int Calls;

    public List<IReadOnlyList<AiChatMessage>> Conversations { get; } = [];

    public Task<ChatResponse> GetResponseAsync(IEnumerable<AiChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var list = messages.ToList();
        lock (Conversations)
        {
            Calls++;
            Conversations.Add(list);
        }
        return Task.FromResult(answer(list, options));
    }

    public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<AiChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException();

    public object? GetService(Type serviceType, object? serviceKey = null) => null;

    public void Dispose()
    {
    }

    public static ChatResponse Text(string text) => new(new AiChatMessage(AiChatRole.Assistant, text));
}

public class SimulationTests
{
    private static readonly SurveyQuestion Question = new()
    {
        Id = "Q1", Text = "How much do you trust the news?", Options = ["A lot", "Some", "Not much", "Not at all", "Refused"], Refusals = ["Refused"],
    };

    [Theory]
    [InlineData("B", 1)]
    [InlineData(" b", null)]
    [InlineData("B.", 1)]
    [InlineData("(C)", 2)]
    [InlineData("**D**", 3)]
    [InlineData("C) Not much", 2)]
    [InlineData("Answer: D", 3)]
    [InlineData("The answer is C.", 2)]
    [InlineData("I would choose option B because...", 1)]
    [InlineData("Some", 1)]
    [InlineData("A lot", 0)]
    [InlineData("A lot of people would say B", 1)]
    [InlineData("A or B", null)]
    [InlineData("It depends on the source.", null)]
    [InlineData("", null)]
    [InlineData("F", null)]
    public void Parses_letter_answers(string reply, int? expected) =>
        Assert.Equal(expected, AnswerParser.Parse(reply, Question.Options));

    [Fact]
    public void Persona_prompts_follow_the_three_styles()
    {
        var qa = PersonaPrompts.Prompt(Question, "POLPARTY=Democrat", PersonaStyle.Qa);
        Assert.StartsWith("Question: In politics today, do you consider yourself a Republican, Democrat, or Independent?\nAnswer: Democrat\n\nQuestion: How much", qa, StringComparison.Ordinal);
        Assert.Contains("\nA. A lot\nB. Some\nC. Not much\nD. Not at all\nE. Refused\n", qa, StringComparison.Ordinal);
        Assert.EndsWith("Answer:", qa, StringComparison.Ordinal);
        Assert.Contains("Description: In politics today, I consider myself a Democrat.", PersonaPrompts.Persona("POLPARTY=Democrat", PersonaStyle.Bio), StringComparison.Ordinal);
        Assert.Equal("Answer the following question as if in politics today, you considered yourself a Democrat.\n\n", PersonaPrompts.Persona("POLPARTY=Democrat", PersonaStyle.Portray));
        Assert.Equal("Answer the following question as if you were a member of the group hobby chess.\n\n", PersonaPrompts.Persona("HOBBY=chess", PersonaStyle.Portray));
        Assert.Contains("Answer: Teachers", PersonaPrompts.Persona("Teachers", PersonaStyle.Qa), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Samples_parse_letters_and_retry_unparseable_replies()
    {
        // The first reply of every third sample is unreadable; the follow-up gets a letter. Sample 7 never answers.
        var client = new ScriptedClient((messages, options) =>
        {
            int seed = (int)options!.Seed!.Value;
            int sample = Enumerable.Range(0, 10).First(s => Attune.Core.Randomness.Seeds.Derive(BaseSeed(), s) == seed);
            if (sample == 7) return ScriptedClient.Text("I'd rather not say.");
            if (sample % 3 == 0 && messages.Count == 1) return ScriptedClient.Text("Well, it depends.");
            return ScriptedClient.Text(sample % 2 == 0 ? "A" : "Answer: C");
        });
        var sim = new SurveySimulator(client, new SimulationOptions { Samples = 10, MaxRetries = 2, Seed = 1 });
        var result = await sim.SimulateAsync(Question, "RACE=Black", PersonaStyle.Qa);
        Assert.Equal("sampled", result.Method);
        Assert.Equal(9, result.Answers!.Count);
        Assert.Equal(1, result.Unparseable);
        Assert.Equal(4 + 2, result.Retries); // one follow-up each for samples 0, 3, 6, 9; two for sample 7
        Assert.Equal(10 + result.Retries, client.Calls);
        var retried = client.Conversations.Where(c => c.Count == 3).ToList();
        Assert.All(retried, c => Assert.Equal("Please answer with a single letter only, one of A, B, C, D, E.", c[2].Text));
        Assert.Equal(["RACE=Black", "qa"], [result.Group, result.Persona]);

        static int BaseSeed() => Attune.Core.Randomness.Seeds.Derive(1, SurveySimulator.StableHash("Q1\u0000RACE=Black\u0000qa"));
    }

    [Fact]
    public async Task Log_probs_give_option_probabilities_and_survive_recording_and_replay()
    {
        using var dir = new TempDir();
        var log = Path.Combine(dir.Path, "log.jsonl");
        // An OpenAI-style response whose first token carries top log-probs, as the OpenAI client returns it.
        var model = new ScriptedClient((_, options) =>
        {
            Assert.Equal(true, options!.AdditionalProperties!["logprobs"]);
            var completion = OpenAIChatModelFactory.ChatCompletion(
                id: "x", role: ChatMessageRole.Assistant, content: new ChatMessageContent("B"),
                contentTokenLogProbabilities:
                [
                    OpenAIChatModelFactory.ChatTokenLogProbabilityDetails("B", MathF.Log(0.5f), null,
                    [
                        OpenAIChatModelFactory.ChatTokenTopLogProbabilityDetails("B", MathF.Log(0.5f), null),
                        OpenAIChatModelFactory.ChatTokenTopLogProbabilityDetails(" A", MathF.Log(0.2f), null),
                        OpenAIChatModelFactory.ChatTokenTopLogProbabilityDetails("A", MathF.Log(0.1f), null),
                        OpenAIChatModelFactory.ChatTokenTopLogProbabilityDetails("Hmm", MathF.Log(0.1f), null),
                        OpenAIChatModelFactory.ChatTokenTopLogProbabilityDetails("D", MathF.Log(0.1f), null),
                    ]),
                ]);
            return new ChatResponse(new AiChatMessage(AiChatRole.Assistant, "B")) { RawRepresentation = completion };
        });
        var options = new SimulationOptions { Samples = 100, LogProbs = true };
        using (var recording = model.AsBuilder().UseRecording(log).Use(inner => new CaptureChatClient(inner)).Build())
        {
            var live = await new SurveySimulator(recording, options).SimulateAsync(Question, "AGE=65+", PersonaStyle.Bio);
            Check(live);
        }
        using var replay = LlmEndpoints.Create("replay:" + log).AsBuilder().Use(inner => new CaptureChatClient(inner)).Build();
        Check(await new SurveySimulator(replay, options).SimulateAsync(Question, "AGE=65+", PersonaStyle.Bio));
        Assert.Equal(1, model.Calls);

        static void Check(SimulatedAnswers a)
        {
            Assert.Equal("logprobs", a.Method);
            Assert.Equal(100, a.N);
            // A: 0.2 + 0.1, B: 0.5, D: 0.1, normalised over 0.9.
            double[] expected = [0.3 / 0.9, 0.5 / 0.9, 0, 0.1 / 0.9, 0];
            for (int k = 0; k < 5; k++) Assert.Equal(expected[k], a.Probabilities![k], 5);
        }
    }

    [Fact]
    public async Task Without_log_probs_the_simulator_falls_back_to_sampling()
    {
        var client = new ScriptedClient((_, o) => ScriptedClient.Text(o!.MaxOutputTokens == 1 ? "B" : "D"));
        var a = await new SurveySimulator(client, new SimulationOptions { Samples = 5, LogProbs = true }).SimulateAsync(Question, "G", PersonaStyle.Portray);
        Assert.Equal("sampled", a.Method);
        Assert.Equal(Enumerable.Repeat("Not at all", 5), a.Answers);
        Assert.Equal(6, client.Calls);
    }

    [Fact]
    public async Task Every_sample_is_a_distinct_request_so_a_recording_replays_exactly()
    {
        using var dir = new TempDir();
        var log = Path.Combine(dir.Path, "log.jsonl");
        var rngModel = new ScriptedClient((_, o) => ScriptedClient.Text(((char)('A' + (int)(o!.Seed!.Value % 4))).ToString()));
        var options = new SimulationOptions { Samples = 30, Styles = [PersonaStyle.Qa, PersonaStyle.Portray], Seed = 8 };
        IReadOnlyList<SimulatedAnswers> live;
        using (var rec = rngModel.AsBuilder().UseRecording(log).Build())
            live = await new SurveySimulator(rec, options).RunAsync([Question], ["RACE=Black", "RACE=White"]);
        Assert.Equal(120, File.ReadAllLines(log).Length);
        using var replay = LlmEndpoints.Create("replay:" + log);
        var again = await new SurveySimulator(replay, options).RunAsync([Question], ["RACE=Black", "RACE=White"]);
        Assert.Equal(live.Select(a => string.Join(",", a.Answers!)), again.Select(a => string.Join(",", a.Answers!)));
        Assert.Equal(4, live.Count);
        // Another seed asks other questions of the log: a miss.
        await Assert.ThrowsAsync<Attune.Llm.Middleware.ReplayMissException>(() =>
            new SurveySimulator(replay, options with { Seed = 9 }).RunAsync([Question], ["RACE=Black"]));
    }
}
