using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Attune.Agents.Box;

/// <summary>One worked example of a tool: arguments in, the JSON value out. Examples double as the tool's tests.</summary>
public sealed record ToolExample(
    [property: JsonPropertyName("input")] JsonObject Input,
    [property: JsonPropertyName("output")] JsonNode? Output);

/// <summary>Where a tool came from: the tasks whose trajectories produced it and how it was made.</summary>
public sealed record ToolProvenance(
    [property: JsonPropertyName("tasks")] IReadOnlyList<string> Tasks,
    [property: JsonPropertyName("method")] string Method,
    [property: JsonPropertyName("notes")] string? Notes = null);

/// <summary>
/// A tool's manifest (<c>tools/NAME.json</c>): its MCP name and description, use cases, the JSON
/// schemas of its input and output, provenance, examples, and the file of its C# source (one
/// public static method with typed parameters).
/// </summary>
public sealed record ToolManifest
{
    [JsonPropertyName("name")] public required string Name { get; init; }

    [JsonPropertyName("description")] public required string Description { get; init; }

    [JsonPropertyName("useCases")] public IReadOnlyList<string> UseCases { get; init; } = [];

    [JsonPropertyName("inputSchema")] public required JsonObject InputSchema { get; init; }

    [JsonPropertyName("outputSchema")] public required JsonObject OutputSchema { get; init; }

    [JsonPropertyName("provenance")] public required ToolProvenance Provenance { get; init; }

    [JsonPropertyName("examples")] public IReadOnlyList<ToolExample> Examples { get; init; } = [];

    /// <summary>The source file, relative to the manifest's folder (default <c>NAME.cs</c>).</summary>
    [JsonPropertyName("source")] public required string Source { get; init; }
}

/// <summary><c>box.json</c>: the box's name, version, description and its tools' names (in order).</summary>
public sealed record BoxManifest
{
    [JsonPropertyName("name")] public required string Name { get; init; }

    [JsonPropertyName("version")] public required string Version { get; init; }

    [JsonPropertyName("description")] public string Description { get; init; } = "";

    [JsonPropertyName("tools")] public required IReadOnlyList<string> Tools { get; init; }
}
