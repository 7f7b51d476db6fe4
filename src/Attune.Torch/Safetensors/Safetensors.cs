using System.Text.Json;
using Attune.Core.Errors;
using Attune.Core.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace Attune.Torch.Safetensors;

/// <summary>
/// Reads and writes safetensors files and Hugging Face checkpoints (one <c>model.safetensors</c>,
/// or shards listed by <c>model.safetensors.index.json</c>).
/// </summary>
public static class Safetensors
{
    public const string SingleFile = "model.safetensors";
    public const string IndexFile = "model.safetensors.index.json";

    /// <summary>Loads every tensor of one file, converted to <paramref name="dtype"/> (default: as stored).</summary>
    public static Dictionary<string, Tensor> Load(string path, ScalarType? dtype = null, Device? device = null)
    {
        var header = SafetensorsHeader.Read(path);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        using var stream = File.OpenRead(path);
        try
        {
            foreach (var entry in header.Tensors.Values)
            {
                result[entry.Name] = ReadTensor(stream, header, entry, path, dtype, device);
            }
        }
        catch
        {
            foreach (var t in result.Values)
            {
                t.Dispose();
            }

            throw;
        }

        return result;
    }

    /// <summary>Loads a checkpoint folder: <c>model.safetensors</c>, or the shards its index names.</summary>
    public static Dictionary<string, Tensor> LoadCheckpoint(string directory, ScalarType? dtype = null, Device? device = null)
    {
        var single = Path.Combine(directory, SingleFile);
        if (File.Exists(single))
        {
            return Load(single, dtype, device);
        }

        var index = Path.Combine(directory, IndexFile);
        if (!File.Exists(index))
        {
            throw new AttuneInputException($"no {SingleFile} or {IndexFile} in the checkpoint folder", directory);
        }

        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var shard in ReadIndex(index).Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            foreach (var (name, tensor) in Load(Path.Combine(directory, shard), dtype, device))
            {
                result[name] = tensor;
            }
        }

        return result;
    }

    /// <summary>The weight map of a sharded checkpoint index: tensor name → shard file name.</summary>
    public static Dictionary<string, string> ReadIndex(string indexPath)
    {
        using var doc = JsonFile.Parse(indexPath);
        if (!doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
        {
            throw new AttuneInputException("missing object", indexPath, field: "weight_map");
        }

        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in map.EnumerateObject())
        {
            var file = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : null;
            if (string.IsNullOrEmpty(file) || file.Contains('/', StringComparison.Ordinal) || file.Contains('\\', StringComparison.Ordinal) || file.Contains("..", StringComparison.Ordinal))
            {
                throw new AttuneInputException($"shard name '{file}' is not a plain file name", indexPath, field: $"weight_map.{p.Name}");
            }

            result[p.Name] = file;
        }

        return result;
    }

    /// <summary>
    /// Writes tensors to one safetensors file atomically, in name order, converted to
    /// <paramref name="dtype"/> (F32, F16 or BF16 for floating tensors; integer tensors keep their type).
    /// </summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, SafetensorsDType dtype = SafetensorsDType.F32, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var names = tensors.Keys.Order(StringComparer.Ordinal).ToList();
        var entries = new List<(string, SafetensorsDType, long[], long, long)>();
        var types = new Dictionary<string, SafetensorsDType>(StringComparer.Ordinal);
        long offset = 0;
        foreach (var name in names)
        {
            var t = tensors[name];
            var type = torch.is_floating_point(t) ? dtype : FromScalarType(t.dtype);
            types[name] = type;
            var bytes = checked(t.numel() * SafetensorsHeader.ElementSize(type));
            entries.Add((name, type, t.shape, offset, offset + bytes));
            offset += bytes;
        }

        var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        meta.TryAdd("format", "pt");
        var header = SafetensorsHeader.Build(entries, meta);
        AtomicFile.Write(path, stream =>
        {
            stream.Write(BitConverter.GetBytes((ulong)header.Length));
            stream.Write(header);
            foreach (var name in names)
            {
                using var scope = NewDisposeScope();
                var t = tensors[name].detach().cpu();
                var converted = t.to_type(ToScalarType(types[name])).contiguous();
                stream.Write(converted.bytes);
            }
        });
    }

    /// <summary>
    /// Writes a checkpoint folder as <c>save_pretrained</c> does: one <c>model.safetensors</c>, or shards
    /// <c>model-0000i-of-0000n.safetensors</c> with an index when larger than <paramref name="maxShardBytes"/>.
    /// </summary>
    public static void SaveCheckpoint(string directory, IReadOnlyDictionary<string, Tensor> tensors, SafetensorsDType dtype = SafetensorsDType.F32, long maxShardBytes = 5_000_000_000)
    {
        Directory.CreateDirectory(directory);
        var shards = new List<List<string>> { new() };
        long current = 0, total = 0;
        foreach (var name in tensors.Keys.Order(StringComparer.Ordinal))
        {
            var t = tensors[name];
            var size = t.numel() * SafetensorsHeader.ElementSize(torch.is_floating_point(t) ? dtype : FromScalarType(t.dtype));
            if (current > 0 && current + size > maxShardBytes)
            {
                shards.Add([]);
                current = 0;
            }

            shards[^1].Add(name);
            current += size;
            total += size;
        }

        if (shards.Count == 1)
        {
            Save(Path.Combine(directory, SingleFile), tensors, dtype);
            File.Delete(Path.Combine(directory, IndexFile));
            return;
        }

        var map = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < shards.Count; i++)
        {
            var file = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
            Save(Path.Combine(directory, file), shards[i].ToDictionary(n => n, n => tensors[n], StringComparer.Ordinal), dtype);
            foreach (var n in shards[i])
            {
                map[n] = file;
            }
        }

        var index = JsonSerializer.Serialize(new { metadata = new { total_size = total }, weight_map = map }, new JsonSerializerOptions { WriteIndented = true });
        AtomicFile.WriteAllText(Path.Combine(directory, IndexFile), index + "\n");
        File.Delete(Path.Combine(directory, SingleFile));
    }

    private static Tensor ReadTensor(FileStream stream, SafetensorsHeader header, TensorEntry entry, string path, ScalarType? dtype, Device? device)
    {
        if (entry.ByteLength > Array.MaxLength)
        {
            throw new AttuneInputException($"tensor of {entry.ByteLength} bytes is larger than one read can hold", path, field: entry.Name);
        }

        var bytes = new byte[entry.ByteLength];
        stream.Position = header.DataOffset + entry.Begin;
        stream.ReadExactly(bytes);
        var raw = torch.empty(entry.Shape, ToScalarType(entry.DType));
        if (bytes.Length > 0)
        {
            raw.bytes = bytes;
        }

        var target = dtype ?? raw.dtype;
        var result = target == raw.dtype ? raw : raw.to_type(target);
        if (!ReferenceEquals(result, raw))
        {
            raw.Dispose();
        }

        return device is null || device.type == DeviceType.CPU ? result : MoveTo(result, device);
    }

    private static Tensor MoveTo(Tensor t, Device device)
    {
        var moved = t.to(device);
        t.Dispose();
        return moved;
    }

    internal static ScalarType ToScalarType(SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.F64 => ScalarType.Float64,
        SafetensorsDType.F32 => ScalarType.Float32,
        SafetensorsDType.F16 => ScalarType.Float16,
        SafetensorsDType.BF16 => ScalarType.BFloat16,
        SafetensorsDType.I64 => ScalarType.Int64,
        SafetensorsDType.I32 => ScalarType.Int32,
        SafetensorsDType.I16 => ScalarType.Int16,
        SafetensorsDType.I8 => ScalarType.Int8,
        SafetensorsDType.U8 => ScalarType.Byte,
        _ => ScalarType.Bool,
    };

    internal static SafetensorsDType FromScalarType(ScalarType t) => t switch
    {
        ScalarType.Float64 => SafetensorsDType.F64,
        ScalarType.Float32 => SafetensorsDType.F32,
        ScalarType.Float16 => SafetensorsDType.F16,
        ScalarType.BFloat16 => SafetensorsDType.BF16,
        ScalarType.Int64 => SafetensorsDType.I64,
        ScalarType.Int32 => SafetensorsDType.I32,
        ScalarType.Int16 => SafetensorsDType.I16,
        ScalarType.Int8 => SafetensorsDType.I8,
        ScalarType.Byte => SafetensorsDType.U8,
        ScalarType.Bool => SafetensorsDType.Bool,
        _ => throw new ArgumentException($"safetensors has no type for {t}"),
    };
}
