using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Attune.Core.IO;

namespace Attune.Torch.Gguf;

/// <summary>The types of GGUF metadata values (the numbers are the file format's).</summary>
public enum GgufValueType : uint
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}

/// <summary>The tensor data types this writer stores (the numbers are ggml's).</summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
}

/// <summary>
/// Writes a GGUF version 3 file, the format llama.cpp reads: the magic <c>GGUF</c>, the version,
/// the tensor and metadata counts, the metadata key–value pairs, the tensor infos (name, dims
/// innermost first, type, offset), padding to the alignment, then each tensor's data, each
/// aligned. Everything is little-endian; strings are a u64 byte length and UTF-8 bytes.
/// </summary>
/// <remarks>
/// Shapes are given as PyTorch writes them (outermost first, e.g. [out, in] for a linear
/// weight) and stored reversed, as ggml counts dimensions (ne[0] is the row length). The data
/// is row-major in both, so no transposition happens.
/// </remarks>
public sealed class GgufWriter
{
    public const uint Version = 3;

    /// <summary>The data alignment (ggml's default; written as <c>general.alignment</c> only if changed).</summary>
    public const int Alignment = 32;

    /// <summary>ggml's GGML_MAX_NAME less the terminating zero.</summary>
    public const int MaxTensorNameBytes = 63;

    private readonly List<(string Key, GgufValueType Type, GgufValueType ElementType, object Value)> _metadata = [];
    private readonly HashSet<string> _keys = new(StringComparer.Ordinal);
    private readonly List<(string Name, long[] Shape, GgmlType Type, float[] Data)> _tensors = [];
    private readonly HashSet<string> _tensorNames = new(StringComparer.Ordinal);

    public IReadOnlyList<string> MetadataKeys => [.. _metadata.Select(m => m.Key)];

    public IReadOnlyList<string> TensorNames => [.. _tensors.Select(t => t.Name)];

    public void Add(string key, string value) => Put(key, GgufValueType.String, value);

    public void Add(string key, bool value) => Put(key, GgufValueType.Bool, value);

    public void Add(string key, byte value) => Put(key, GgufValueType.UInt8, value);

    public void Add(string key, sbyte value) => Put(key, GgufValueType.Int8, value);

    public void Add(string key, ushort value) => Put(key, GgufValueType.UInt16, value);

    public void Add(string key, short value) => Put(key, GgufValueType.Int16, value);

    public void Add(string key, uint value) => Put(key, GgufValueType.UInt32, value);

    public void Add(string key, int value) => Put(key, GgufValueType.Int32, value);

    public void Add(string key, ulong value) => Put(key, GgufValueType.UInt64, value);

    public void Add(string key, long value) => Put(key, GgufValueType.Int64, value);

    public void Add(string key, float value) => Put(key, GgufValueType.Float32, value);

    public void Add(string key, double value) => Put(key, GgufValueType.Float64, value);

    /// <summary>An array of strings.</summary>
    public void AddArray(string key, IReadOnlyList<string> values) => PutArray(key, GgufValueType.String, values);

    /// <summary>An array of int32.</summary>
    public void AddArray(string key, IReadOnlyList<int> values) => PutArray(key, GgufValueType.Int32, values);

    /// <summary>An array of uint32.</summary>
    public void AddArray(string key, IReadOnlyList<uint> values) => PutArray(key, GgufValueType.UInt32, values);

    /// <summary>An array of int64.</summary>
    public void AddArray(string key, IReadOnlyList<long> values) => PutArray(key, GgufValueType.Int64, values);

    /// <summary>An array of float32.</summary>
    public void AddArray(string key, IReadOnlyList<float> values) => PutArray(key, GgufValueType.Float32, values);

    /// <summary>An array of float64.</summary>
    public void AddArray(string key, IReadOnlyList<double> values) => PutArray(key, GgufValueType.Float64, values);

    /// <summary>An array of booleans.</summary>
    public void AddArray(string key, IReadOnlyList<bool> values) => PutArray(key, GgufValueType.Bool, values);

    /// <summary>Adds a tensor of shape <paramref name="shape"/> (PyTorch order) with row-major float data, stored as <paramref name="type"/>.</summary>
    public void AddTensor(string name, long[] shape, float[] data, GgmlType type = GgmlType.F32)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(data);
        if (Encoding.UTF8.GetByteCount(name) > MaxTensorNameBytes)
        {
            throw new ArgumentException($"tensor name '{name}' is longer than {MaxTensorNameBytes} bytes", nameof(name));
        }

        if (shape.Length is 0 or > 4 || shape.Any(d => d <= 0))
        {
            throw new ArgumentException($"tensor '{name}': shape [{string.Join(", ", shape)}] must have 1 to 4 positive dimensions", nameof(shape));
        }

        var count = shape.Aggregate(1L, (a, d) => a * d);
        if (count != data.Length)
        {
            throw new ArgumentException($"tensor '{name}': shape [{string.Join(", ", shape)}] holds {count} values, the data {data.Length}", nameof(data));
        }

        if (!Enum.IsDefined(type))
        {
            throw new ArgumentOutOfRangeException(nameof(type), type, "only F32 and F16 are written");
        }

        if (!_tensorNames.Add(name))
        {
            throw new ArgumentException($"tensor '{name}' was already added", nameof(name));
        }

        _tensors.Add((name, [.. shape], type, data));
    }

    /// <summary>Writes the file atomically (a temporary name, then renamed).</summary>
    public void Write(string path) => AtomicFile.Write(path, WriteTo);

    /// <summary>Writes the file to <paramref name="stream"/>.</summary>
    public void WriteTo(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("GGUF is written little-endian; this machine is big-endian");
        }

        w.Write("GGUF"u8);
        w.Write(Version);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_metadata.Count);
        foreach (var (key, type, elementType, value) in _metadata)
        {
            WriteString(w, key);
            w.Write((uint)type);
            if (type == GgufValueType.Array)
            {
                w.Write((uint)elementType);
                var list = (System.Collections.IList)value;
                w.Write((ulong)list.Count);
                foreach (var item in list)
                {
                    WriteScalar(w, elementType, item!);
                }
            }
            else
            {
                WriteScalar(w, type, value);
            }
        }

        ulong offset = 0;
        foreach (var (name, shape, type, data) in _tensors)
        {
            WriteString(w, name);
            w.Write((uint)shape.Length);
            for (var i = shape.Length - 1; i >= 0; i--)
            {
                w.Write((ulong)shape[i]);
            }

            w.Write((uint)type);
            w.Write(offset);
            offset = Align(offset + DataBytes(type, data.Length));
        }

        Pad(w);
        foreach (var (_, _, type, data) in _tensors)
        {
            w.Flush();
            if (type == GgmlType.F32)
            {
                stream.Write(MemoryMarshal.AsBytes(data.AsSpan()));
            }
            else
            {
                WriteF16(stream, data);
            }

            Pad(w);
        }

        w.Flush();
    }

    /// <summary>Bytes of <paramref name="count"/> values of <paramref name="type"/>.</summary>
    public static ulong DataBytes(GgmlType type, long count) => (ulong)count * (type == GgmlType.F32 ? 4UL : 2UL);

    private void Put(string key, GgufValueType type, object value)
    {
        ArgumentNullException.ThrowIfNull(value);
        AddKey(key);
        _metadata.Add((key, type, default, value));
    }

    private void PutArray<T>(string key, GgufValueType elementType, IReadOnlyList<T> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        AddKey(key);
        _metadata.Add((key, GgufValueType.Array, elementType, values.ToList()));
    }

    private void AddKey(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        if (!_keys.Add(key))
        {
            throw new ArgumentException($"metadata key '{key}' was already added", nameof(key));
        }
    }

    private static void WriteScalar(BinaryWriter w, GgufValueType type, object value)
    {
        switch (type)
        {
            case GgufValueType.UInt8: w.Write((byte)value); break;
            case GgufValueType.Int8: w.Write((sbyte)value); break;
            case GgufValueType.UInt16: w.Write((ushort)value); break;
            case GgufValueType.Int16: w.Write((short)value); break;
            case GgufValueType.UInt32: w.Write((uint)value); break;
            case GgufValueType.Int32: w.Write((int)value); break;
            case GgufValueType.Float32: w.Write((float)value); break;
            case GgufValueType.Bool: w.Write((bool)value ? (byte)1 : (byte)0); break;
            case GgufValueType.String: WriteString(w, (string)value); break;
            case GgufValueType.UInt64: w.Write((ulong)value); break;
            case GgufValueType.Int64: w.Write((long)value); break;
            case GgufValueType.Float64: w.Write((double)value); break;
            default: throw new InvalidOperationException($"cannot write a {type} here");
        }
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static void WriteF16(Stream stream, float[] data)
    {
        var buffer = new byte[Math.Min(data.Length, 1 << 16) * 2];
        for (var start = 0; start < data.Length; start += buffer.Length / 2)
        {
            var n = Math.Min(buffer.Length / 2, data.Length - start);
            for (var i = 0; i < n; i++)
            {
                BinaryPrimitives.WriteHalfLittleEndian(buffer.AsSpan(i * 2), (Half)data[start + i]);
            }

            stream.Write(buffer, 0, n * 2);
        }
    }

    private static ulong Align(ulong n) => (n + Alignment - 1) / Alignment * Alignment;

    private static void Pad(BinaryWriter w)
    {
        w.Flush();
        var position = w.BaseStream.Position;
        var pad = (int)((Alignment - (position % Alignment)) % Alignment);
        for (var i = 0; i < pad; i++)
        {
            w.Write((byte)0);
        }
    }
}
