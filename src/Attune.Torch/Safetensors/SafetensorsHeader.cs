using System.Text;
using System.Text.Json;
using Attune.Core.Errors;

namespace Attune.Torch.Safetensors;

/// <summary>The element types a safetensors file may hold, with their sizes in bytes.</summary>
public enum SafetensorsDType
{
    F64, F32, F16, BF16, I64, I32, I16, I8, U8, Bool,
}

/// <summary>One tensor's entry in a safetensors header: type, shape and byte range in the data section.</summary>
public sealed record TensorEntry(string Name, SafetensorsDType DType, long[] Shape, long Begin, long End)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => checked(a * b));

    public long ByteLength => End - Begin;
}

/// <summary>
/// The parsed, validated header of a safetensors file: an 8-byte little-endian header length N,
/// N bytes of JSON <c>{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {…}}</c>,
/// then the data section. Every size is checked before anything is allocated, so a lying or
/// truncated file fails with a clear error and never a crash or a huge allocation.
/// </summary>
public sealed class SafetensorsHeader
{
    /// <summary>The largest header accepted (the reference implementation uses 100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private SafetensorsHeader(IReadOnlyDictionary<string, TensorEntry> tensors, IReadOnlyDictionary<string, string> metadata, long dataOffset)
    {
        Tensors = tensors;
        Metadata = metadata;
        DataOffset = dataOffset;
    }

    /// <summary>Tensors by name, in file order of their data.</summary>
    public IReadOnlyDictionary<string, TensorEntry> Tensors { get; }

    /// <summary>The free-form string metadata (e.g. <c>format: pt</c>).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Where the data section starts in the file: 8 + N.</summary>
    public long DataOffset { get; }

    public static int ElementSize(SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.F64 or SafetensorsDType.I64 => 8,
        SafetensorsDType.F32 or SafetensorsDType.I32 => 4,
        SafetensorsDType.F16 or SafetensorsDType.BF16 or SafetensorsDType.I16 => 2,
        _ => 1,
    };

    /// <summary>Reads and validates the header of the file at <paramref name="path"/>.</summary>
    public static SafetensorsHeader Read(string path)
    {
        if (!File.Exists(path))
        {
            throw AttuneInputException.FileNotFound(path);
        }

        using var stream = File.OpenRead(path);
        return Read(stream, path);
    }

    /// <summary>Reads and validates a header from the start of <paramref name="stream"/>; <paramref name="name"/> is used in errors.</summary>
    public static SafetensorsHeader Read(Stream stream, string name)
    {
        var length = stream.Length;
        Span<byte> prefix = stackalloc byte[8];
        if (length < 8 || stream.ReadAtLeast(prefix, 8, throwOnEndOfStream: false) < 8)
        {
            throw new AttuneInputException($"not a safetensors file: {length} bytes, shorter than the 8-byte header length", name);
        }

        var headerLength = BitConverter.ToUInt64(prefix);
        if (headerLength > MaxHeaderBytes)
        {
            throw new AttuneInputException($"header length {headerLength} exceeds the {MaxHeaderBytes}-byte limit (corrupt or not a safetensors file)", name);
        }

        if ((long)headerLength > length - 8)
        {
            throw new AttuneInputException($"header length {headerLength} is larger than the {length - 8} bytes after it (truncated file?)", name);
        }

        var header = new byte[headerLength];
        stream.ReadExactly(header);
        return Parse(header, length - 8 - (long)headerLength, name);
    }

    /// <summary>Parses header JSON given the size of the data section that follows it.</summary>
    public static SafetensorsHeader Parse(ReadOnlySpan<byte> json, long dataLength, string name)
    {
        if (!System.Text.Unicode.Utf8.IsValid(json))
        {
            throw new AttuneInputException("header is not valid UTF-8", name);
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException ex)
        {
            throw new AttuneInputException($"header is not valid JSON ({ex.Message.Split(". ")[0]})", name);
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new AttuneInputException("header is not a JSON object", name);
            }

            var tensors = new List<TensorEntry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                {
                    ReadMetadata(property.Value, metadata, name);
                    continue;
                }

                tensors.Add(ReadEntry(property, dataLength, name));
            }

            CheckLayout(tensors, dataLength, name);
            var byName = new Dictionary<string, TensorEntry>(StringComparer.Ordinal);
            foreach (var t in tensors.OrderBy(t => t.Begin).ThenBy(t => t.Name, StringComparer.Ordinal))
            {
                byName[t.Name] = t;
            }

            return new SafetensorsHeader(byName, metadata, 8 + json.Length);
        }
    }

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, string name)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new AttuneInputException("must be an object of strings", name, field: "__metadata__");
        }

        foreach (var m in value.EnumerateObject())
        {
            if (m.Value.ValueKind != JsonValueKind.String)
            {
                throw new AttuneInputException("metadata values must be strings", name, field: $"__metadata__.{m.Name}");
            }

            metadata[m.Name] = m.Value.GetString()!;
        }
    }

    private static TensorEntry ReadEntry(JsonProperty property, long dataLength, string name)
    {
        var field = property.Name;
        var v = property.Value;
        if (v.ValueKind != JsonValueKind.Object)
        {
            throw new AttuneInputException("tensor entry must be an object", name, field: field);
        }

        if (!v.TryGetProperty("dtype", out var dtypeJson) || dtypeJson.ValueKind != JsonValueKind.String)
        {
            throw new AttuneInputException("missing or non-string 'dtype'", name, field: field);
        }

        var dtype = ParseDType(dtypeJson.GetString()!)
                    ?? throw new AttuneInputException($"unknown dtype '{dtypeJson.GetString()}' (known: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)", name, field: field);

        if (!v.TryGetProperty("shape", out var shapeJson) || shapeJson.ValueKind != JsonValueKind.Array)
        {
            throw new AttuneInputException("missing or non-array 'shape'", name, field: field);
        }

        var shape = new long[shapeJson.GetArrayLength()];
        var i = 0;
        foreach (var d in shapeJson.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var dim) || dim < 0)
            {
                throw new AttuneInputException($"shape entry {i} is not a non-negative integer", name, field: field);
            }

            shape[i++] = dim;
        }

        if (!v.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2
            || !offsets[0].TryGetInt64(out var begin) || !offsets[1].TryGetInt64(out var end))
        {
            throw new AttuneInputException("'data_offsets' must be [begin, end]", name, field: field);
        }

        if (begin < 0 || end < begin || end > dataLength)
        {
            throw new AttuneInputException($"data_offsets [{begin}, {end}] lie outside the {dataLength}-byte data section (truncated file?)", name, field: field);
        }

        long bytes;
        try
        {
            bytes = checked(shape.Aggregate(1L, (a, b) => checked(a * b)) * ElementSize(dtype));
        }
        catch (OverflowException)
        {
            throw new AttuneInputException($"shape [{string.Join(", ", shape)}] overflows", name, field: field);
        }

        if (bytes != end - begin)
        {
            throw new AttuneInputException(
                $"shape [{string.Join(", ", shape)}] of {dtype} needs {bytes} bytes but data_offsets give {end - begin}", name, field: field);
        }

        return new TensorEntry(field, dtype, shape, begin, end);
    }

    private static void CheckLayout(List<TensorEntry> tensors, long dataLength, string name)
    {
        // As the reference implementation: tensors tile the data section without gaps or overlaps.
        long expected = 0;
        foreach (var t in tensors.OrderBy(t => t.Begin).ThenBy(t => t.End))
        {
            if (t.Begin != expected)
            {
                throw new AttuneInputException(
                    t.Begin < expected ? $"overlaps the previous tensor (begins at {t.Begin}, previous ends at {expected})"
                                       : $"leaves a gap in the data section (begins at {t.Begin}, previous ends at {expected})",
                    name, field: t.Name);
            }

            expected = t.End;
        }

        if (expected != dataLength)
        {
            throw new AttuneInputException($"the tensors cover {expected} bytes but the data section has {dataLength}", name);
        }
    }

    internal static SafetensorsDType? ParseDType(string s) => s switch
    {
        "F64" => SafetensorsDType.F64,
        "F32" => SafetensorsDType.F32,
        "F16" => SafetensorsDType.F16,
        "BF16" => SafetensorsDType.BF16,
        "I64" => SafetensorsDType.I64,
        "I32" => SafetensorsDType.I32,
        "I16" => SafetensorsDType.I16,
        "I8" => SafetensorsDType.I8,
        "U8" => SafetensorsDType.U8,
        "BOOL" => SafetensorsDType.Bool,
        _ => null,
    };

    internal static string Name(SafetensorsDType dtype) => dtype == SafetensorsDType.Bool ? "BOOL" : dtype.ToString();

    /// <summary>Builds header JSON for tensors laid out back to back, padded with spaces to a multiple of 8 bytes.</summary>
    internal static byte[] Build(IEnumerable<(string Name, SafetensorsDType DType, long[] Shape, long Begin, long End)> entries, IReadOnlyDictionary<string, string>? metadata)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, val) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    w.WriteString(k, val);
                }

                w.WriteEndObject();
            }

            foreach (var e in entries)
            {
                w.WriteStartObject(e.Name);
                w.WriteString("dtype", Name(e.DType));
                w.WriteStartArray("shape");
                foreach (var d in e.Shape)
                {
                    w.WriteNumberValue(d);
                }

                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(e.Begin);
                w.WriteNumberValue(e.End);
                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndObject();
        }

        var json = ms.ToArray();
        var padded = (json.Length + 7) / 8 * 8;
        var result = new byte[padded];
        json.CopyTo(result, 0);
        result.AsSpan(json.Length).Fill((byte)' ');
        return result;
    }

    /// <summary>Text of a header, for diagnostics.</summary>
    internal static string Describe(ReadOnlySpan<byte> json) => Encoding.UTF8.GetString(json);
}
