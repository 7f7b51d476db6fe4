using System.Text.Json.Serialization;
using Attune.Bandits;
using Attune.Core.Randomness;

namespace Attune.Studies;

/// <summary>
/// A participant as stored. <see cref="ConsentedAt"/> is when they agreed to the study's consent
/// text (the consent form's checkbox, or <c>"consent": true</c> in the JSON join); null when the
/// study has no consent text and none was given, or for participants stored before consent was
/// recorded.
/// </summary>
public sealed record ParticipantRecord(
    string Id, string Condition, int Seed, string? ProlificPid, string? StudyId, string? SessionId,
    string? WorkerId, string? AssignmentId, string? HitId, DateTimeOffset CreatedAt, DateTimeOffset? ConsentedAt, string? Questionnaire, DateTimeOffset? CompletedAt);

/// <summary>A stored rating.</summary>
public sealed record RatingRecord(int Round, string Arm, string ItemId, int Rating, DateTimeOffset SubmittedAt);

/// <summary>The item shown in a round, as the API returns it.</summary>
public sealed record ItemView(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("arm")] string Arm,
    [property: JsonPropertyName("title")] string Title,
    [property: JsonPropertyName("text")] string? Text,
    [property: JsonPropertyName("image_url")] string? ImageUrl);

public sealed record ChoiceView(
    [property: JsonPropertyName("arm")] string Arm,
    [property: JsonPropertyName("name")] string Name);

/// <summary>What a participant faces now: the reply of <c>GET …/next</c>.</summary>
public sealed record NextView(
    [property: JsonPropertyName("round")] int? Round,
    [property: JsonPropertyName("rounds")] int Rounds,
    [property: JsonPropertyName("done")] bool Done,
    [property: JsonPropertyName("stage")] string Stage,
    [property: JsonPropertyName("condition")] string Condition,
    [property: JsonPropertyName("item")] ItemView? Item,
    [property: JsonPropertyName("choices")] IReadOnlyList<ChoiceView>? Choices,
    [property: JsonPropertyName("questionnaire")] IReadOnlyList<Question>? Questionnaire,
    [property: JsonPropertyName("completion_code")] string? CompletionCode,
    [property: JsonPropertyName("completion_url")] string? CompletionUrl);

/// <summary>
/// The study's logic, free of storage and HTTP: what a participant sees next is a pure function of
/// the config, the participant's seed and condition, and their stored ratings and choices. The
/// bandit is rebuilt by replaying the stored ratings into a fresh policy (never deserialised), and
/// round t's random draws come from <see cref="Seeds.Create(int, long)"/>(seed, t), so a refresh,
/// a reconnect or a server restart shows the same item.
/// </summary>
public sealed class StudyEngine(StudyConfig config)
{
    public const string AttentionArm = "_attention";

    public StudyConfig Config { get; } = config;

    public RatingScale Scale => new(Config.Scale.Min, Config.Scale.Max);

    public ConditionConfig Condition(string name) => Config.Conditions.First(c => c.Name == name);

    public bool IsSelfSelected(string condition) =>
        (Condition(condition).Policy ?? condition).StartsWith("self-selected", StringComparison.OrdinalIgnoreCase);

    public NextView Next(ParticipantRecord participant, IReadOnlyList<RatingRecord> ratings, IReadOnlyDictionary<int, string> choices)
    {
        ArgumentNullException.ThrowIfNull(participant);
        ArgumentNullException.ThrowIfNull(ratings);
        ArgumentNullException.ThrowIfNull(choices);
        var round = ratings.Count + 1;
        if (round > Config.Rounds)
        {
            if (Config.Questionnaire.Count > 0 && participant.Questionnaire is null)
            {
                return new NextView(null, Config.Rounds, false, "questionnaire", participant.Condition, null, null, Config.Questionnaire, null, null);
            }

            return new NextView(null, Config.Rounds, true, "complete", participant.Condition, null, null, null, Config.CompletionCode, Config.CompletionUrl);
        }

        var check = Config.AttentionChecks.FirstOrDefault(a => a.Round == round);
        if (check is not null)
        {
            return new NextView(round, Config.Rounds, false, "rate", participant.Condition,
                new ItemView(check.Id, AttentionArm, "Attention check", check.Text, null), null, null, null, null);
        }

        int arm;
        if (IsSelfSelected(participant.Condition))
        {
            if (!choices.TryGetValue(round, out var chosen))
            {
                var order = Enumerable.Range(0, Config.Arms.Count).ToArray();
                Seeds.Create(participant.Seed, (1L << 32) + round).Shuffle(order);
                return new NextView(round, Config.Rounds, false, "choose", participant.Condition, null,
                    [.. order.Select(i => new ChoiceView(Config.Arms[i].Id, Config.Arms[i].Name))], null, null, null);
            }

            arm = Config.Arms.FindIndex(a => a.Id == chosen);
        }
        else
        {
            var policy = RebuildPolicy(participant.Condition, ratings);
            arm = policy.SelectArm(Seeds.Create(participant.Seed, round));
        }

        var exposures = ratings.Count(r => r.Arm == Config.Arms[arm].Id);
        return new NextView(round, Config.Rounds, false, "rate", participant.Condition, ItemFor(participant.Seed, arm, exposures), null, null, null, null);
    }

    /// <summary>A fresh policy of the condition fed every stored rating in round order (attention checks skipped).</summary>
    public IBanditPolicy RebuildPolicy(string condition, IReadOnlyList<RatingRecord> ratings)
    {
        ArgumentNullException.ThrowIfNull(ratings);
        var c = Condition(condition);
        var policy = Policies.Create(c.Policy ?? c.Name, Config.Arms.Count, Config.Rounds, Config.Scale.Max - Config.Scale.Min + 1);
        foreach (var r in ratings.OrderBy(r => r.Round))
        {
            var arm = Config.Arms.FindIndex(a => a.Id == r.Arm);
            if (arm >= 0)
            {
                policy.Update(arm, Scale.ToReward(r.Rating));
            }
        }

        return policy;
    }

    /// <summary>The k-th exposure to an arm shows its items in a participant-specific shuffled order, cycling.</summary>
    public ItemView ItemFor(int seed, int arm, int exposure)
    {
        var items = Config.Arms[arm].Items;
        var order = Enumerable.Range(0, items.Count).ToArray();
        Seeds.Create(seed, (2L << 32) + arm).Shuffle(order);
        var item = items[order[exposure % items.Count]];
        return new ItemView(item.Id, Config.Arms[arm].Id, item.Title, item.Text, item.ImageUrl);
    }
}
