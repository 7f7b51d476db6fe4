using System.Text.Json;
using System.Text.Json.Serialization;
using Attune.Bandits;
using Attune.Core.Errors;

namespace Attune.Studies;

/// <summary>A study: arms with items, rounds, the rating scale, conditions and their slots, checks, questionnaire.</summary>
public sealed class StudyConfig
{
    [JsonPropertyName("id")] public string Id { get; set; } = "study";
    [JsonPropertyName("title")] public string Title { get; set; } = "A study";
    [JsonPropertyName("consent")] public string Consent { get; set; } = "";
    [JsonPropertyName("instructions")] public string Instructions { get; set; } = "";
    [JsonPropertyName("rounds")] public int Rounds { get; set; } = 10;
    [JsonPropertyName("scale")] public ScaleConfig Scale { get; set; } = new();
    [JsonPropertyName("arms")] public List<ArmConfig> Arms { get; set; } = [];
    [JsonPropertyName("conditions")] public List<ConditionConfig> Conditions { get; set; } = [];
    [JsonPropertyName("attention_checks")] public List<AttentionCheck> AttentionChecks { get; set; } = [];
    [JsonPropertyName("questionnaire")] public List<Question> Questionnaire { get; set; } = [];
    [JsonPropertyName("completion_code")] public string CompletionCode { get; set; } = "";
    [JsonPropertyName("completion_url")] public string? CompletionUrl { get; set; }

    /// <summary>Admin bearer token; <c>ATTUNE_STUDY_ADMIN_TOKEN</c> overrides it.</summary>
    [JsonPropertyName("admin_token")] public string? AdminToken { get; set; }

    /// <summary>Joins allowed per minute per client address (429 beyond).</summary>
    [JsonPropertyName("join_rate_limit_per_minute")] public int JoinRateLimitPerMinute { get; set; } = 120;

    /// <summary>Largest request body accepted, in bytes (413 beyond).</summary>
    [JsonPropertyName("max_body_bytes")] public int MaxBodyBytes { get; set; } = 16 * 1024;

    /// <summary>Comments and trailing commas allowed; a field the config does not have (a typo) is refused, not ignored.</summary>
    private static readonly JsonSerializerOptions Options = new()
    {
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
    };

    public static StudyConfig Load(string path)
    {
        if (!File.Exists(path))
        {
            throw AttuneInputException.FileNotFound(path);
        }

        StudyConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<StudyConfig>(File.ReadAllText(path), Options);
        }
        catch (JsonException ex)
        {
            throw new AttuneInputException(Attune.Core.IO.JsonFile.Describe(ex), path, ex.LineNumber + 1, ex.Path);
        }

        if (config is null)
        {
            throw new AttuneInputException("the file holds null, expected a study object", path, 1);
        }

        config.Validate(path);
        return config;
    }

    public static StudyConfig Parse(string json, string name = "study.json")
    {
        var config = JsonSerializer.Deserialize<StudyConfig>(json, Options) ?? throw new AttuneInputException("null study", name);
        config.Validate(name);
        return config;
    }

    public void Validate(string file)
    {
        void Fail(string field, string what) => throw new AttuneInputException(what, file, null, field);
        if (Rounds < 1 || Rounds > 1000)
        {
            Fail("rounds", $"{Rounds}: expected 1 to 1000");
        }

        if (Scale.Min >= Scale.Max)
        {
            Fail("scale", $"min {Scale.Min} must be below max {Scale.Max}");
        }

        if (Arms.Count < 1)
        {
            Fail("arms", "at least one arm is needed");
        }

        for (var i = 0; i < Arms.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(Arms[i].Id) || Arms[i].Id.StartsWith('_'))
            {
                Fail($"arms[{i}].id", "empty or starts with '_'");
            }

            if (Arms[i].Items.Count == 0)
            {
                Fail($"arms[{i}].items", "an arm needs at least one item");
            }

            for (var j = 0; j < Arms[i].Items.Count; j++)
            {
                var item = Arms[i].Items[j];
                if (string.IsNullOrWhiteSpace(item.Id) || (item.Text is null && item.ImageUrl is null))
                {
                    Fail($"arms[{i}].items[{j}]", "an item needs an id and a text or an image_url");
                }
            }
        }

        if (Arms.Select(a => a.Id).Distinct().Count() != Arms.Count)
        {
            Fail("arms", "arm ids must be distinct");
        }

        if (Arms.SelectMany(a => a.Items).Select(i => i.Id).Distinct().Count() != Arms.Sum(a => a.Items.Count))
        {
            Fail("arms", "item ids must be distinct across arms");
        }

        if (Conditions.Count == 0)
        {
            Fail("conditions", "at least one condition is needed");
        }

        if (Conditions.All(c => c.Slots <= 0))
        {
            Fail("conditions", "no condition has a slot (slots 0 everywhere): the study could enrol nobody");
        }

        for (var i = 0; i < Conditions.Count; i++)
        {
            var c = Conditions[i];
            if (string.IsNullOrWhiteSpace(c.Name))
            {
                Fail($"conditions[{i}].name", "empty");
            }

            if (c.Slots < 0)
            {
                Fail($"conditions[{i}].slots", "negative");
            }

            try
            {
                _ = Policies.Create(c.Policy ?? c.Name, Arms.Count, Rounds, Scale.Max - Scale.Min + 1);
            }
            catch (AttuneInputException ex)
            {
                Fail($"conditions[{i}].policy", ex.Message);
            }
        }

        for (var i = 0; i < AttentionChecks.Count; i++)
        {
            var a = AttentionChecks[i];
            if (a.Round < 1 || a.Round > Rounds || a.Expected < Scale.Min || a.Expected > Scale.Max || string.IsNullOrWhiteSpace(a.Id))
            {
                Fail($"attention_checks[{i}]", "needs an id, a round within the study and an expected rating on the scale");
            }
        }

        if (AttentionChecks.Select(a => a.Round).Distinct().Count() != AttentionChecks.Count)
        {
            Fail("attention_checks", "two checks in the same round");
        }

        if (MaxBodyBytes < 256)
        {
            Fail("max_body_bytes", "at least 256");
        }
    }
}

public sealed class ScaleConfig
{
    [JsonPropertyName("min")] public int Min { get; set; } = 1;
    [JsonPropertyName("max")] public int Max { get; set; } = 9;
    [JsonPropertyName("min_label")] public string MinLabel { get; set; } = "Not at all";
    [JsonPropertyName("max_label")] public string MaxLabel { get; set; } = "Very much";
    [JsonPropertyName("question")] public string Question { get; set; } = "How much did you enjoy this?";
}

public sealed class ArmConfig
{
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("items")] public List<ItemConfig> Items { get; set; } = [];
}

public sealed class ItemConfig
{
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    [JsonPropertyName("title")] public string Title { get; set; } = "";
    [JsonPropertyName("text")] public string? Text { get; set; }
    [JsonPropertyName("image_url")] public string? ImageUrl { get; set; }
}

public sealed class ConditionConfig
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";

    /// <summary>Policy spec (see <see cref="Policies.Create"/>); defaults to the name.</summary>
    [JsonPropertyName("policy")] public string? Policy { get; set; }

    [JsonPropertyName("slots")] public int Slots { get; set; } = 10;
}

/// <summary>A round whose item asks for a given rating; it is stored with arm <c>_attention</c> and not shown to the bandit.</summary>
public sealed class AttentionCheck
{
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    [JsonPropertyName("round")] public int Round { get; set; }
    [JsonPropertyName("text")] public string Text { get; set; } = "";
    [JsonPropertyName("expected")] public int Expected { get; set; }
}

public sealed class Question
{
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    [JsonPropertyName("text")] public string Text { get; set; } = "";

    /// <summary><c>text</c> (free text, at most 2000 characters) or <c>scale</c> (on the study's scale).</summary>
    [JsonPropertyName("type")] public string Type { get; set; } = "text";
}
