using System.Text.Json.Nodes;
using Attune.Agents.Sandbox;

namespace Attune.Agents.Box;

/// <summary>JSON schemas of a tool's input and output, derived from its entry method's C# signature.</summary>
public static class ToolSchema
{
    /// <summary>The schema of one C# type as written (int, double, string, bool, T[], List&lt;T&gt;, …).</summary>
    public static JsonObject ForType(string type)
    {
        ArgumentNullException.ThrowIfNull(type);
        type = type.Replace("System.Collections.Generic.", "", StringComparison.Ordinal).Replace("System.", "", StringComparison.Ordinal).TrimEnd('?');
        if (type.EndsWith("[]", StringComparison.Ordinal))
        {
            return new JsonObject { ["type"] = "array", ["items"] = ForType(type[..^2]) };
        }

        foreach (var generic in new[] { "List<", "IReadOnlyList<", "IList<", "IEnumerable<", "ICollection<", "IReadOnlyCollection<", "HashSet<" })
        {
            if (type.StartsWith(generic, StringComparison.Ordinal) && type.EndsWith('>'))
            {
                return new JsonObject { ["type"] = "array", ["items"] = ForType(type[generic.Length..^1]) };
            }
        }

        return type switch
        {
            "int" or "long" or "short" or "byte" or "sbyte" or "uint" or "ulong" or "ushort" or "Int32" or "Int64" or "Numerics.BigInteger" or "BigInteger" => new JsonObject { ["type"] = "integer" },
            "double" or "float" or "decimal" or "Double" or "Single" or "Decimal" => new JsonObject { ["type"] = "number" },
            "bool" or "Boolean" => new JsonObject { ["type"] = "boolean" },
            "string" or "String" or "char" => new JsonObject { ["type"] = "string" },
            _ => new JsonObject(),
        };
    }

    /// <summary>The input schema: an object with one property per parameter; parameters without defaults are required.</summary>
    public static JsonObject ForInput(CompiledTool tool, IReadOnlyDictionary<string, string>? descriptions = null)
    {
        ArgumentNullException.ThrowIfNull(tool);
        var properties = new JsonObject();
        foreach (var p in tool.Parameters)
        {
            var schema = ForType(p.Type);
            if (descriptions?.GetValueOrDefault(p.Name) is { } d)
            {
                schema["description"] = d;
            }

            properties[p.Name] = schema;
        }

        return new JsonObject
        {
            ["type"] = "object",
            ["properties"] = properties,
            ["required"] = new JsonArray([.. tool.RequiredParameters.Select(n => (JsonNode)n)]),
        };
    }

    public static JsonObject ForOutput(CompiledTool tool)
    {
        ArgumentNullException.ThrowIfNull(tool);
        return ForType(tool.ReturnType);
    }
}
