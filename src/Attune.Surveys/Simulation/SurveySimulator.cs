using System.Text;
using System.Text.Json.Serialization;
using Attune.Core.Randomness;
using Attune.Surveys.Data;
using Microsoft.Extensions.AI;

namespace Attune.Surveys.Simulation;

/// <summary>Settings of <see cref="SurveySimulator"/>.</summary>
public sealed record SimulationOptions
{
    /// <summary>Answers sampled per question × group × persona style.</summary>
    public int Samples { get; init; } = 50;

    public IReadOnlyList<PersonaStyle> Styles { get; init; } = [PersonaStyle.Qa];

    /// <summary>Follow-up questions after an unparseable reply, before the sample counts as unparseable.</summary>
    public int MaxRetries { get; init; } = 2;

    /// <summary>Sampling temperature.</summary>
    public double Temperature { get; init; } = 1.0;

    /// <summary>Ask for the first token's log-probs and use the option probabilities (one call per question × group × style) where the endpoint returns them.</summary>
    public bool LogProbs { get; init; }

    public int MaxOutputTokens { get; init; } = 16;

    public int Concurrency { get; init; } = 4;

    public int Seed { get; init; } = Seeds.Default;
}

/// <summary>What was simulated for one question × group × persona style.</summary>
public sealed record SimulatedAnswers
{
    [JsonPropertyName("question")] public required string Question { get; init; }

    [JsonPropertyName("group")] public required string Group { get; init; }

    [JsonPropertyName("persona")] public required string Persona { get; init; }

    [JsonPropertyName("options")] public required IReadOnlyList<string> Options { get; init; }

    [JsonPropertyName("refusals")] public IReadOnlyList<string> Refusals { get; init; } = [];

    /// <summary>Sampled answers (option labels), when sampled.</summary>
    [JsonPropertyName("answers")] public IReadOnlyList<string>? Answers { get; init; }

    /// <summary>Option probabilities from log-probs, when used; stands for <see cref="N"/> answers.</summary>
    [JsonPropertyName("probabilities")] public IReadOnlyList<double>? Probabilities { get; init; }

    [JsonPropertyName("n")] public int? N { get; init; }

    /// <summary>"sampled" or "logprobs".</summary>
    [JsonPropertyName("method")] public required string Method { get; init; }

    /// <summary>Samples whose replies could not be read even after the retries (not in <see cref="Answers"/>).</summary>
    [JsonPropertyName("unparseable")] public int Unparseable { get; init; }

    /// <summary>Follow-up calls made after unparseable replies.</summary>
    [JsonPropertyName("retries")] public int Retries { get; init; }
}

/// <summary>
/// Asks a language model each question as a member of each group: a persona prompt (OpinionQA's
/// QA, BIO or PORTRAY steering), the question with lettered options, then either N sampled
/// answers (each parsed with <see cref="AnswerParser"/>, with up to <see cref="SimulationOptions.MaxRetries"/>
/// follow-ups for unparseable replies) or the option probabilities from the first token's
/// log-probs. Each sample's request carries its own seed (derived from the run's seed, question,
/// group, style and sample index), so every request is distinct and a recorded run replays exactly.
/// </summary>
public sealed class SurveySimulator(IChatClient client, SimulationOptions options)
{
    private readonly IChatClient _client = client ?? throw new ArgumentNullException(nameof(client));
    private readonly SimulationOptions _options = options ?? throw new ArgumentNullException(nameof(options));

    public async Task<IReadOnlyList<SimulatedAnswers>> RunAsync(
        IReadOnlyList<SurveyQuestion> questions, IReadOnlyList<string> groups, Action<string>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(questions);
        ArgumentNullException.ThrowIfNull(groups);
        var jobs = (from q in questions from g in groups from s in _options.Styles select (q, g, s)).ToList();
        var results = new SimulatedAnswers[jobs.Count];
        int done = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, jobs.Count),
            new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, _options.Concurrency), CancellationToken = cancellationToken },
            async (i, ct) =>
            {
                var (q, g, s) = jobs[i];
                results[i] = await SimulateAsync(q, g, s, ct).ConfigureAwait(false);
                int n = Interlocked.Increment(ref done);
                if (progress is not null && (n % 10 == 0 || n == jobs.Count))
                    progress($"simulated {n}/{jobs.Count} question x group x persona");
            }).ConfigureAwait(false);
        return results;
    }

    public async Task<SimulatedAnswers> SimulateAsync(SurveyQuestion question, string group, PersonaStyle style, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(question);
        string prompt = PersonaPrompts.Prompt(question, group, style);
        string persona = style.ToString().ToLowerInvariant();
        int baseSeed = Seeds.Derive(_options.Seed, StableHash($"{question.Id}\u0000{group}\u0000{persona}"));

        if (_options.LogProbs)
        {
            var response = await _client.GetResponseAsync([new ChatMessage(ChatRole.User, prompt)], OptionLogProbs.Request(baseSeed), cancellationToken).ConfigureAwait(false);
            var top = OptionLogProbs.TopLogProbs(response);
            var probabilities = top is null ? null : OptionLogProbs.OptionProbabilities(top, question.Options.Count);
            if (probabilities is not null)
            {
                return new SimulatedAnswers
                {
                    Question = question.Id, Group = group, Persona = persona, Options = question.Options, Refusals = question.Refusals,
                    Probabilities = probabilities, N = _options.Samples, Method = "logprobs",
                };
            }
            // No log-probs from this endpoint (or no option letter among the top tokens): sample instead.
        }

        var answers = new List<string>();
        int unparseable = 0, retries = 0;
        for (int sample = 0; sample < _options.Samples; sample++)
        {
            var chatOptions = new ChatOptions
            {
                Temperature = (float)_options.Temperature,
                MaxOutputTokens = _options.MaxOutputTokens,
                Seed = Seeds.Derive(baseSeed, sample),
            };
            var conversation = new List<ChatMessage> { new(ChatRole.User, prompt) };
            int? chosen = null;
            for (int attempt = 0; attempt <= _options.MaxRetries; attempt++)
            {
                var response = await _client.GetResponseAsync(conversation, chatOptions, cancellationToken).ConfigureAwait(false);
                chosen = AnswerParser.Parse(response.Text, question.Options);
                if (chosen is not null) break;
                if (attempt == _options.MaxRetries) break;
                retries++;
                conversation.Add(new ChatMessage(ChatRole.Assistant, response.Text));
                conversation.Add(new ChatMessage(ChatRole.User, PersonaPrompts.Reminder(question.Options.Count)));
            }
            if (chosen is { } k) answers.Add(question.Options[k]);
            else unparseable++;
        }

        return new SimulatedAnswers
        {
            Question = question.Id, Group = group, Persona = persona, Options = question.Options, Refusals = question.Refusals,
            Answers = answers, Method = "sampled", Unparseable = unparseable, Retries = retries,
        };
    }

    /// <summary>FNV-1a over UTF-8: a hash that is the same in every process (unlike string.GetHashCode).</summary>
    internal static long StableHash(string text)
    {
        unchecked
        {
            ulong h = 14695981039346656037UL;
            foreach (byte b in Encoding.UTF8.GetBytes(text))
            {
                h ^= b;
                h *= 1099511628211UL;
            }
            return (long)(h & 0x7FFFFFFFFFFFFFFF);
        }
    }
}
