using System.Reflection;
using System.Runtime.Loader;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Attune.Agents.ToolHost;

/// <summary>
/// The tool host: a child process that runs compiled, already allow-list-checked tool code for
/// Attune.Agents' sandbox. It reads one JSON request per line on stdin and writes one JSON
/// response per line on stdout (the only writer of stdout: Console.Out is redirected to nothing,
/// so code that somehow printed could not corrupt the channel). The parent enforces wall-clock,
/// CPU-time and working-set limits by killing this process; the GC heap is capped by
/// DOTNET_GCHeapHardLimit, which the parent sets.
/// Request:  {"id":1,"key":"sha256","assembly":"base64 (first time only)","type":"Tool","method":"Name","args":{…},"maxOutput":65536}
/// Response: {"id":1,"ok":true,"result":…} or {"id":1,"ok":false,"error":"…","fatal":false}
/// </summary>
internal static class Program
{
    private static readonly Dictionary<string, Assembly> Loaded = new(StringComparer.Ordinal);

    private static readonly Dictionary<(string Key, string Type, string Method), (MethodInfo Method, ParameterInfo[] Parameters)> Methods = [];

    private static readonly JsonSerializerOptions ValueOptions = new(JsonSerializerDefaults.Web)
    {
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        IncludeFields = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        MaxDepth = 64,
    };

    private static int Main()
    {
        var protocol = Console.OpenStandardOutput();
        Console.SetOut(TextWriter.Null);
        Console.SetError(TextWriter.Null);
        using var input = new StreamReader(Console.OpenStandardInput(), new UTF8Encoding(false));
        using var output = new StreamWriter(protocol, new UTF8Encoding(false)) { AutoFlush = false, NewLine = "\n" };
        output.WriteLine("{\"ready\":true}");
        output.Flush();
        while (input.ReadLine() is { } line)
        {
            if (line.Length == 0)
            {
                continue;
            }

            var (response, fatal) = Handle(line);
            output.WriteLine(response);
            output.Flush();
            if (fatal)
            {
                // After an out-of-memory the process may be in a bad state: let the parent start a fresh one.
                return 3;
            }
        }

        return 0;
    }

    private static (string Response, bool Fatal) Handle(string line)
    {
        long id = 0;
        try
        {
            var request = JsonNode.Parse(line)!.AsObject();
            id = request["id"]?.GetValue<long>() ?? 0;
            var key = request["key"]!.GetValue<string>();
            if (request["assembly"] is { } image)
            {
                if (!Loaded.ContainsKey(key))
                {
                    var context = new AssemblyLoadContext("tool-" + key[..Math.Min(12, key.Length)], isCollectible: false);
                    using var stream = new MemoryStream(Convert.FromBase64String(image.GetValue<string>()));
                    Loaded[key] = context.LoadFromStream(stream);
                }
            }

            if (!Loaded.TryGetValue(key, out var assembly))
            {
                return (Error(id, "unknown assembly " + key, fatal: false), false);
            }

            var typeName = request["type"]!.GetValue<string>();
            var methodName = request["method"]!.GetValue<string>();
            var maxOutput = request["maxOutput"]?.GetValue<int>() ?? 65536;
            if (!Methods.TryGetValue((key, typeName, methodName), out var entry))
            {
                var type = assembly.GetType(typeName) ?? throw new ArgumentException($"no type '{typeName}'");
                var found = type.GetMethods(BindingFlags.Public | BindingFlags.Static).SingleOrDefault(m => m.Name == methodName)
                             ?? throw new ArgumentException($"no public static method '{methodName}' in '{typeName}'");
                entry = (found, found.GetParameters());
                Methods[(key, typeName, methodName)] = entry;
            }

            var (method, parameters) = entry;
            var args = request["args"] as JsonObject ?? [];
            var values = new object?[parameters.Length];
            for (var i = 0; i < parameters.Length; i++)
            {
                var p = parameters[i];
                var node = args[p.Name!] ?? args.FirstOrDefault(a => string.Equals(a.Key, p.Name, StringComparison.OrdinalIgnoreCase)).Value;
                if (node is null)
                {
                    if (p.HasDefaultValue)
                    {
                        values[i] = p.DefaultValue;
                        continue;
                    }

                    throw new ArgumentException($"missing argument '{p.Name}'");
                }

                try
                {
                    values[i] = node.Deserialize(p.ParameterType, ValueOptions);
                }
                catch (JsonException ex)
                {
                    throw new ArgumentException($"argument '{p.Name}': cannot read {node.ToJsonString()} as {p.ParameterType.Name} ({ex.Message})", ex);
                }
            }

            var unknown = args.Select(a => a.Key).Where(k => !parameters.Any(p => string.Equals(p.Name, k, StringComparison.OrdinalIgnoreCase))).ToList();
            if (unknown.Count > 0)
            {
                throw new ArgumentException($"unknown argument '{unknown[0]}' (parameters: {string.Join(", ", parameters.Select(p => p.Name))})");
            }

            object? result;
            try
            {
                result = method.Invoke(null, values);
            }
            catch (TargetInvocationException ex) when (ex.InnerException is { } inner)
            {
                if (inner is OutOfMemoryException or InsufficientExecutionStackException)
                {
                    return (Error(id, $"{inner.GetType().Name}: {inner.Message}", fatal: true), true);
                }

                return (Error(id, $"{inner.GetType().Name}: {inner.Message}", fatal: false), false);
            }

            var json = result is null ? "null" : JsonSerializer.Serialize(result, method.ReturnType, ValueOptions);
            if (json.Length > maxOutput)
            {
                return (Error(id, $"output too large: {json.Length} characters (limit {maxOutput})", fatal: false), false);
            }

            return ($"{{\"id\":{id},\"ok\":true,\"result\":{json}}}", false);
        }
        catch (OutOfMemoryException ex)
        {
            return (Error(id, $"OutOfMemoryException: {ex.Message}", fatal: true), true);
        }
        catch (Exception ex) when (ex is ArgumentException or JsonException or InvalidOperationException or FormatException
                                       or NotSupportedException or BadImageFormatException or TargetParameterCountException
                                       or MemberAccessException or TypeLoadException or NullReferenceException)
        {
            return (Error(id, $"{ex.GetType().Name}: {ex.Message}", fatal: false), false);
        }
    }

    private static string Error(long id, string message, bool fatal) =>
        new JsonObject { ["id"] = id, ["ok"] = false, ["error"] = message, ["fatal"] = fatal }.ToJsonString();
}
