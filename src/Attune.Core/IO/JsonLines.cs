using System.Text;
using System.Text.Json;
using Attune.Core.Errors;

namespace Attune.Core.IO;

/// <summary>
/// JSON-lines files: one JSON document a line, blank lines ignored. Errors name the file and the
/// 1-based line.
/// </summary>
public static class JsonLines
{
    /// <summary>Options used for every JSON document Attune reads or writes.</summary>
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = false,
    };

    /// <summary>Reads each non-blank line as a <see cref="JsonElement"/> with its line number.</summary>
    public static IEnumerable<(long Line, JsonElement Value)> ReadElements(string path)
    {
        if (!File.Exists(path))
        {
            throw AttuneInputException.FileNotFound(path);
        }

        return Iterate(path);

        static IEnumerable<(long, JsonElement)> Iterate(string path)
        {
            using var reader = new StreamReader(path, Encoding.UTF8);
            long lineNo = 0;
            string? text;
            while ((text = reader.ReadLine()) is not null)
            {
                lineNo++;
                if (string.IsNullOrWhiteSpace(text))
                {
                    continue;
                }

                JsonElement element;
                try
                {
                    using var doc = JsonDocument.Parse(text);
                    element = doc.RootElement.Clone();
                }
                catch (JsonException ex)
                {
                    throw new AttuneInputException($"not valid JSON ({FirstSentence(ex.Message)})", path, lineNo, inner: ex);
                }

                yield return (lineNo, element);
            }
        }
    }

    /// <summary>Reads each non-blank line as a <typeparamref name="T"/>.</summary>
    public static IEnumerable<(long Line, T Value)> Read<T>(string path, JsonSerializerOptions? options = null)
    {
        foreach (var (line, element) in ReadElements(path))
        {
            T? value;
            try
            {
                value = element.Deserialize<T>(options ?? Options);
            }
            catch (JsonException ex)
            {
                throw new AttuneInputException($"does not match {typeof(T).Name} ({FirstSentence(ex.Message)})", path, line, ex.Path, ex);
            }

            if (value is null)
            {
                throw new AttuneInputException($"null where a {typeof(T).Name} was expected", path, line);
            }

            yield return (line, value);
        }
    }

    /// <summary>Appends one document as a line and flushes, so an interrupted run keeps whole lines.</summary>
    public static void Append<T>(string path, T value, JsonSerializerOptions? options = null)
    {
        var line = JsonSerializer.Serialize(value, options ?? Options);
        using var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        var bytes = Encoding.UTF8.GetBytes(line + "\n");
        stream.Write(bytes);
        stream.Flush(flushToDisk: true);
    }

    private static string FirstSentence(string message)
    {
        var cut = message.IndexOf(". ", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message.TrimEnd('.');
    }
}
