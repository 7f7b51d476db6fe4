using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Attune.Core.Errors;
using Attune.Core.IO;
using static TorchSharp.torch;

namespace Attune.Personalization;

/// <summary>
/// A user model on disk, beside the Hugging Face files of the model it belongs to:
/// <c>user_model.safetensors</c> (its tensors) and <c>user_model.json</c> (kind, T_u, K, hidden size,
/// and the user table: id → row).
/// </summary>
public static class UserModelFiles
{
    public const string TensorsFile = "user_model.safetensors";
    public const string TableFile = "user_model.json";

    private sealed record Table(
        [property: JsonPropertyName("kind")] string Kind,
        [property: JsonPropertyName("tokens")] int Tokens,
        [property: JsonPropertyName("clusters")] int Clusters,
        [property: JsonPropertyName("hidden_size")] int Hidden,
        [property: JsonPropertyName("soft_tokens_at")] int SoftTokensAt,
        [property: JsonPropertyName("users")] Dictionary<string, int> Users);

    /// <summary>Whether <paramref name="directory"/> holds a user model.</summary>
    public static bool Exists(string directory) => File.Exists(Path.Combine(directory, TableFile));

    /// <summary>
    /// Writes both files (atomically) into <paramref name="directory"/>; <paramref name="softTokensAt"/>
    /// records where training placed the soft tokens (after that many prompt tokens), for serving.
    /// </summary>
    public static void Save(string directory, UserModel users, int softTokensAt = 1)
    {
        ArgumentNullException.ThrowIfNull(users);
        Directory.CreateDirectory(directory);
        var tensors = users.Tensors();
        if (tensors.Count > 0)
        {
            var temp = Path.Combine(directory, $".{TensorsFile}.{Guid.NewGuid():N}.tmp");
            Attune.Torch.Safetensors.Safetensors.Save(temp, tensors.ToDictionary(p => p.Key, p => p.Value.detach()));
            File.Move(temp, Path.Combine(directory, TensorsFile), overwrite: true);
        }

        var table = new Table(users.Options.Kind.ToString().ToLowerInvariant(), users.Options.Tokens, users.Options.Clusters, users.Hidden, softTokensAt,
            users.Users.Select((u, i) => (u, i)).ToDictionary(p => p.u, p => p.i, StringComparer.Ordinal));
        AtomicFile.WriteAllText(Path.Combine(directory, TableFile), JsonSerializer.Serialize(table, new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>Where the soft tokens go (after how many prompt tokens), as training recorded it.</summary>
    public static int SoftTokensAt(string directory)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, TableFile)));
        return doc.RootElement.TryGetProperty("soft_tokens_at", out var at) && at.TryGetInt32(out var n) && n >= 0 ? n : 1;
    }

    /// <summary>Reads the user model in <paramref name="directory"/>; a missing or malformed file names itself.</summary>
    public static UserModel Load(string directory, Device? device = null)
    {
        var tablePath = Path.Combine(directory, TableFile);
        if (!File.Exists(tablePath))
        {
            throw new AttuneInputException($"no user model here (no {TableFile}); train one with 'attune personalize train'", directory);
        }

        Table table;
        try
        {
            table = JsonSerializer.Deserialize<Table>(File.ReadAllText(tablePath)) ?? throw new JsonException("empty");
        }
        catch (JsonException ex)
        {
            throw new AttuneInputException($"not a user table: {ex.Message}", tablePath);
        }

        if (!Enum.TryParse<UserModelKind>(table.Kind, ignoreCase: true, out var kind) || table.Users is null)
        {
            throw new AttuneInputException($"unknown kind '{table.Kind}' (individual, cluster or none)", tablePath);
        }

        var rows = table.Users.OrderBy(p => p.Value).ToList();
        if (rows.Select((p, i) => p.Value != i).Any(x => x))
        {
            throw new AttuneInputException("the user rows must be 0, 1, 2, … without gaps", tablePath);
        }

        var options = new UserModelOptions { Kind = kind, Tokens = table.Tokens, Clusters = table.Clusters };
        var tensorsPath = Path.Combine(directory, TensorsFile);
        var tensors = kind == UserModelKind.None ? [] : Attune.Torch.Safetensors.Safetensors.Load(tensorsPath, ScalarType.Float32, device);
        try
        {
            return UserModel.FromTensors(options, [.. rows.Select(p => p.Key)], table.Hidden, tensors, tensorsPath);
        }
        finally
        {
            foreach (var t in tensors.Values)
            {
                t.Dispose();
            }
        }
    }

    /// <summary>The user table as JSON (for <c>attune personalize users --json</c>): each user's row and, for a cluster model, weights.</summary>
    public static JsonObject Describe(UserModel users)
    {
        ArgumentNullException.ThrowIfNull(users);
        var list = new JsonArray();
        for (var i = 0; i < users.Users.Count; i++)
        {
            var entry = new JsonObject { ["user"] = users.Users[i], ["row"] = i };
            if (users.Weights(users.Users[i]) is { } w)
            {
                entry["weights"] = new JsonArray([.. w.Select(x => (JsonNode)Math.Round(x, 6))]);
            }

            list.Add(entry);
        }

        return new JsonObject
        {
            ["kind"] = users.Options.Kind.ToString().ToLowerInvariant(), ["tokens"] = users.Tokens,
            ["clusters"] = users.Options.Kind == UserModelKind.Cluster ? users.Options.Clusters : null, ["users"] = list,
        };
    }
}
