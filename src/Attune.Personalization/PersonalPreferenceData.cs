using System.Text.Json;
using Attune.Alignment.Training;
using Attune.Core.Errors;
using Attune.Core.IO;

namespace Attune.Personalization;

/// <summary>A preference pair with its user (null: no user given or not among the known users).</summary>
public sealed record PersonalExample(PreferenceExample Pair, string? User);

/// <summary>Personal preference data and the known users it defines.</summary>
/// <param name="Examples">Every pair, in file order.</param>
/// <param name="KnownUsers">The users the model gets a row for, most pairs first (ties by id).</param>
public sealed record PersonalData(IReadOnlyList<PersonalExample> Examples, IReadOnlyList<string> KnownUsers);

/// <summary>
/// Reading personalised preference data: JSON lines <c>{"user", "prompt", "chosen", "rejected", …}</c>
/// (extra fields kept), or the comparison format of OpenAI's summarize-from-feedback
/// (<c>{"info": {"post": …}, "summaries": [{"text": …}, {"text": …}], "choice": 0|1, "worker": …}</c>);
/// and per-user train/eval splits.
/// </summary>
public static class PersonalPreferenceData
{
    /// <summary>
    /// Reads JSON lines with a <c>user</c> string on every line; <paramref name="topUsers"/> &gt; 0 keeps
    /// only the most active users as known (the others' pairs stay, with no user).
    /// </summary>
    public static PersonalData ReadPairs(string path, int topUsers = 0)
    {
        var pairs = PreferenceData.Read(path);
        var examples = new List<PersonalExample>(pairs.Count);
        foreach (var p in pairs)
        {
            if (!p.Extra.TryGetValue("user", out var user))
            {
                throw new AttuneInputException("missing", path, p.Line, "user");
            }

            if (user.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(user.GetString()))
            {
                throw new AttuneInputException("must be a non-empty string", path, p.Line, "user");
            }

            examples.Add(new PersonalExample(p, user.GetString()));
        }

        return Known(examples, topUsers, path);
    }

    /// <summary>
    /// Reads the summarize-from-feedback comparison format: the prompt is <c>info.post</c> (or
    /// <c>info.article</c>), the chosen summary is <c>summaries[choice]</c>, the user is <c>worker</c>.
    /// <paramref name="topWorkers"/> &gt; 0 makes the most active workers the known users and everyone
    /// else unknown.
    /// </summary>
    public static PersonalData ReadComparisons(string path, int topWorkers = 0)
    {
        var examples = new List<PersonalExample>();
        foreach (var (line, e) in JsonLines.ReadElements(path))
        {
            if (e.ValueKind != JsonValueKind.Object)
            {
                throw new AttuneInputException("each line must be a JSON object with \"info\", \"summaries\", \"choice\" and \"worker\"", path, line);
            }

            JsonElement Get(JsonElement o, string name, string field) =>
                o.TryGetProperty(name, out var v) ? v : throw new AttuneInputException("missing", path, line, field);
            string Text(JsonElement v, string field) =>
                v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new AttuneInputException("must be a string", path, line, field);

            var info = Get(e, "info", "info");
            if (info.ValueKind != JsonValueKind.Object)
            {
                throw new AttuneInputException("must be an object", path, line, "info");
            }

            var post = info.TryGetProperty("post", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString()!
                : info.TryGetProperty("article", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString()!
                : throw new AttuneInputException("missing (neither a post nor an article string)", path, line, "info.post");
            var summaries = Get(e, "summaries", "summaries");
            if (summaries.ValueKind != JsonValueKind.Array || summaries.GetArrayLength() != 2)
            {
                throw new AttuneInputException("must be an array of two summaries", path, line, "summaries");
            }

            var texts = summaries.EnumerateArray().Select((s, i) => s.ValueKind == JsonValueKind.Object
                ? Text(Get(s, "text", $"summaries[{i}].text"), $"summaries[{i}].text")
                : throw new AttuneInputException("must be an object with a \"text\"", path, line, $"summaries[{i}]")).ToArray();
            var choiceElement = Get(e, "choice", "choice");
            if (choiceElement.ValueKind != JsonValueKind.Number || !choiceElement.TryGetInt32(out var choice) || choice is not (0 or 1))
            {
                throw new AttuneInputException("must be 0 or 1", path, line, "choice");
            }

            var worker = Text(Get(e, "worker", "worker"), "worker");
            if (string.IsNullOrWhiteSpace(worker))
            {
                throw new AttuneInputException("must not be empty", path, line, "worker");
            }

            var extra = e.EnumerateObject().Where(x => x.Name is not ("info" or "summaries" or "choice" or "worker"))
                .ToDictionary(x => x.Name, x => x.Value.Clone(), StringComparer.Ordinal);
            examples.Add(new PersonalExample(new PreferenceExample(post, texts[choice], texts[1 - choice], extra, line), worker));
        }

        return examples.Count == 0 ? throw new AttuneInputException("no comparisons", path) : Known(examples, topWorkers, path);
    }

    /// <summary>
    /// Splits each known user's pairs into train and eval (about <paramref name="evalShare"/> to eval,
    /// seeded), keeping every known user with at least two pairs in both; pairs without a known user
    /// split the same way as one group.
    /// </summary>
    public static (IReadOnlyList<PersonalExample> Train, IReadOnlyList<PersonalExample> Eval) Split(IReadOnlyList<PersonalExample> examples, double evalShare, int seed)
    {
        ArgumentNullException.ThrowIfNull(examples);
        if (double.IsNaN(evalShare) || evalShare is <= 0 or >= 1)
        {
            throw new AttuneInputException($"--eval-share must be between 0 and 1, exclusive (got {evalShare})");
        }

        var rng = Attune.Core.Randomness.Seeds.Create(seed, 43);
        var train = new List<PersonalExample>();
        var eval = new List<PersonalExample>();
        foreach (var group in examples.GroupBy(e => e.User ?? "", StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var items = group.OrderBy(_ => rng.Next()).ToList();
            var toEval = items.Count < 2 ? 0 : Math.Clamp((int)Math.Round(items.Count * evalShare), 1, items.Count - 1);
            eval.AddRange(items.Take(toEval));
            train.AddRange(items.Skip(toEval));
        }

        return (train, eval);
    }

    private static PersonalData Known(List<PersonalExample> examples, int top, string path)
    {
        if (top < 0)
        {
            throw new AttuneInputException($"--top-workers must be 0 (all) or more (got {top})");
        }

        var ranked = examples.GroupBy(e => e.User!, StringComparer.Ordinal)
            .OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).Select(g => g.Key).ToList();
        if (ranked.Count == 0)
        {
            throw new AttuneInputException("no users in the data", path);
        }

        var known = top == 0 ? ranked : ranked.Take(top).ToList();
        var set = known.ToHashSet(StringComparer.Ordinal);
        return new PersonalData([.. examples.Select(e => set.Contains(e.User!) ? e : e with { User = null })], known);
    }
}
