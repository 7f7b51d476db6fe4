using System.Text.Json;
using System.Text.Json.Nodes;
using Attune.Agents.Sandbox;
using Attune.Core.Errors;
using Attune.Core.IO;

namespace Attune.Agents.Box;

/// <summary>A tool of a box: its manifest, its source and the compiled entry method.</summary>
public sealed record BoxTool(ToolManifest Manifest, string Source, CompiledTool Compiled)
{
    public string Name => Manifest.Name;
}

/// <summary>
/// An MCP box on disk: <c>box.json</c> (name, version, description, tool names) and, under
/// <c>tools/</c>, per tool <c>NAME.json</c> (<see cref="ToolManifest"/>) and <c>NAME.cs</c> (one
/// public static method). Loading checks every source with the sandbox's allow-list and
/// compiles it; anything malformed is an <see cref="AttuneInputException"/> naming the file.
/// </summary>
public sealed class McpBox
{
    public static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    public McpBox(BoxManifest manifest, IReadOnlyList<BoxTool> tools)
    {
        Manifest = manifest;
        Tools = tools;
    }

    public BoxManifest Manifest { get; }

    public IReadOnlyList<BoxTool> Tools { get; }

    public BoxTool? Find(string name) => Tools.FirstOrDefault(t => t.Name == name);

    /// <summary>Reads and compiles the box in <paramref name="directory"/>.</summary>
    public static McpBox Load(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var boxFile = Path.Combine(directory, "box.json");
        if (!File.Exists(boxFile))
        {
            throw new AttuneInputException(Directory.Exists(directory) ? "not an MCP box: box.json not found" : "MCP box folder not found", Directory.Exists(directory) ? boxFile : directory);
        }

        var manifest = Read<BoxManifest>(boxFile);
        if (string.IsNullOrWhiteSpace(manifest.Name))
        {
            throw new AttuneInputException("empty", boxFile, field: "name");
        }

        var tools = new List<BoxTool>();
        foreach (var name in manifest.Tools)
        {
            if (!IsToolName(name))
            {
                throw new AttuneInputException($"'{name}' is not a tool name (letters, digits, '_' and '-', starting with a letter)", boxFile, field: "tools");
            }

            var file = Path.Combine(directory, "tools", name + ".json");
            if (!File.Exists(file))
            {
                throw new AttuneInputException($"tool '{name}' has no manifest", file);
            }

            var tool = Read<ToolManifest>(file);
            if (tool.Name != name)
            {
                throw new AttuneInputException($"name '{tool.Name}' differs from the box's entry '{name}'", file, field: "name");
            }

            var sourceFile = Path.Combine(directory, "tools", tool.Source);
            if (!File.Exists(sourceFile) || Path.GetFileName(tool.Source) != tool.Source)
            {
                throw new AttuneInputException($"source file '{tool.Source}' not found next to the manifest", file, field: "source");
            }

            var source = File.ReadAllText(sourceFile);
            CompiledTool compiled;
            try
            {
                compiled = ToolCompiler.Compile(source);
            }
            catch (ToolRejectedException ex)
            {
                throw new AttuneInputException(ex.Message, sourceFile);
            }

            var properties = tool.InputSchema["properties"] as JsonObject;
            var missing = compiled.Parameters.Where(p => properties?.ContainsKey(p.Name) != true).Select(p => p.Name).ToList();
            if (missing.Count > 0)
            {
                throw new AttuneInputException($"parameter '{missing[0]}' of {compiled.Signature} is not in the input schema", file, field: "inputSchema");
            }

            tools.Add(new BoxTool(tool, source, compiled));
        }

        return new McpBox(manifest, tools);
    }

    /// <summary>Writes the box to <paramref name="directory"/> (replacing it) through a temporary folder.</summary>
    public void Save(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var full = Path.GetFullPath(directory);
        var temp = full.TrimEnd(Path.DirectorySeparatorChar) + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        Directory.CreateDirectory(Path.Combine(temp, "tools"));
        File.WriteAllText(Path.Combine(temp, "box.json"), JsonSerializer.Serialize(Manifest, JsonOptions) + "\n");
        foreach (var tool in Tools)
        {
            File.WriteAllText(Path.Combine(temp, "tools", tool.Name + ".json"), JsonSerializer.Serialize(tool.Manifest, JsonOptions) + "\n");
            File.WriteAllText(Path.Combine(temp, "tools", tool.Manifest.Source), tool.Source);
        }

        if (Directory.Exists(full))
        {
            var old = full.TrimEnd(Path.DirectorySeparatorChar) + ".old-" + Guid.NewGuid().ToString("N")[..8];
            Directory.Move(full, old);
            Directory.Move(temp, full);
            Directory.Delete(old, recursive: true);
        }
        else
        {
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            Directory.Move(temp, full);
        }
    }

    public static bool IsToolName(string name) =>
        name.Length is > 0 and <= 64 && char.IsAsciiLetter(name[0]) && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-');

    private static T Read<T>(string file)
    {
        using var doc = JsonFile.Parse(file);
        try
        {
            return doc.RootElement.Deserialize<T>(JsonOptions) ?? throw new AttuneInputException("empty document", file);
        }
        catch (JsonException ex)
        {
            var field = ex.Path is { Length: > 2 } p ? p.TrimStart('$', '.') : null;
            throw new AttuneInputException(ex.Message.Split(" Path:")[0], file, field: field, inner: ex);
        }
    }
}
