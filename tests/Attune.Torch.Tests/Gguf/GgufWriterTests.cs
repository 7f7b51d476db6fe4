using System.Text;
using Attune.Torch.Gguf;

namespace Attune.Torch.Tests.Gguf;

public class GgufWriterTests
{
    [Fact]
    public void Writes_every_metadata_type_tensor_infos_and_aligned_data()
    {
        var w = new GgufWriter();
        w.Add("u8", (byte)7);
        w.Add("i8", (sbyte)-7);
        w.Add("u16", (ushort)700);
        w.Add("i16", (short)-700);
        w.Add("u32", 70000u);
        w.Add("i32", -70000);
        w.Add("f32", 1.5f);
        w.Add("bool", true);
        w.Add("str", "héllo");
        w.Add("u64", 1UL << 40);
        w.Add("i64", -(1L << 40));
        w.Add("f64", 2.25);
        w.AddArray("strs", ["a", "bc"]);
        w.AddArray("ints", [1, -2, 3]);
        w.AddArray("floats", [0.5f]);
        w.AddTensor("m", [2, 3], [1, 2, 3, 4, 5, 6]);
        w.AddTensor("h", [3], [1, -2, 0.5f], GgmlType.F16);

        using var stream = new MemoryStream();
        w.WriteTo(stream);
        var file = Read(stream.ToArray());

        Assert.Equal(3u, file.Version);
        Assert.Equal((byte)7, file.Metadata["u8"]);
        Assert.Equal((sbyte)-7, file.Metadata["i8"]);
        Assert.Equal((ushort)700, file.Metadata["u16"]);
        Assert.Equal((short)-700, file.Metadata["i16"]);
        Assert.Equal(70000u, file.Metadata["u32"]);
        Assert.Equal(-70000, file.Metadata["i32"]);
        Assert.Equal(1.5f, file.Metadata["f32"]);
        Assert.Equal(true, file.Metadata["bool"]);
        Assert.Equal("héllo", file.Metadata["str"]);
        Assert.Equal(1UL << 40, file.Metadata["u64"]);
        Assert.Equal(-(1L << 40), file.Metadata["i64"]);
        Assert.Equal(2.25, file.Metadata["f64"]);
        Assert.Equal(new object[] { "a", "bc" }, file.Metadata["strs"]);
        Assert.Equal(new object[] { 1, -2, 3 }, file.Metadata["ints"]);
        Assert.Equal(new object[] { 0.5f }, file.Metadata["floats"]);

        // Dims innermost first; offsets relative to the aligned data section, each aligned.
        var (mDims, mType, mOffset) = file.Tensors["m"];
        Assert.Equal(new ulong[] { 3, 2 }, mDims);
        Assert.Equal(0u, mType);
        Assert.Equal(0UL, mOffset);
        var (hDims, hType, hOffset) = file.Tensors["h"];
        Assert.Equal(new ulong[] { 3 }, hDims);
        Assert.Equal(1u, hType);
        Assert.Equal(32UL, hOffset);
        Assert.Equal(0, file.DataStart % GgufWriter.Alignment);

        var bytes = stream.ToArray();
        var m = Enumerable.Range(0, 6).Select(i => BitConverter.ToSingle(bytes, file.DataStart + (i * 4))).ToArray();
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6 }, m);
        var h = Enumerable.Range(0, 3).Select(i => (float)BitConverter.ToHalf(bytes, file.DataStart + 32 + (i * 2))).ToArray();
        Assert.Equal(new float[] { 1, -2, 0.5f }, h);
        Assert.Equal(0, bytes.Length % GgufWriter.Alignment);
    }

    [Fact]
    public void Rejects_repeated_keys_bad_shapes_and_long_names()
    {
        var w = new GgufWriter();
        w.Add("k", 1);
        Assert.Throws<ArgumentException>(() => w.Add("k", 2));
        Assert.Throws<ArgumentException>(() => w.AddTensor("t", [2, 2], [1, 2, 3]));
        Assert.Throws<ArgumentException>(() => w.AddTensor("t", [0], []));
        Assert.Throws<ArgumentException>(() => w.AddTensor(new string('x', 64), [1], [1]));
        w.AddTensor("t", [1], [1]);
        Assert.Throws<ArgumentException>(() => w.AddTensor("t", [1], [1]));
    }

    private sealed record GgufFile(uint Version, Dictionary<string, object> Metadata, Dictionary<string, (ulong[] Dims, uint Type, ulong Offset)> Tensors, int DataStart);

    /// <summary>A small independent reader of the GGUF layout, for checking the writer.</summary>
    private static GgufFile Read(byte[] bytes)
    {
        using var r = new BinaryReader(new MemoryStream(bytes), Encoding.UTF8);
        Assert.Equal("GGUF"u8.ToArray(), r.ReadBytes(4));
        var version = r.ReadUInt32();
        var tensorCount = r.ReadUInt64();
        var kvCount = r.ReadUInt64();
        var metadata = new Dictionary<string, object>();
        for (ulong i = 0; i < kvCount; i++)
        {
            var key = Str(r);
            metadata[key] = Value(r, r.ReadUInt32());
        }

        var tensors = new Dictionary<string, (ulong[], uint, ulong)>();
        for (ulong i = 0; i < tensorCount; i++)
        {
            var name = Str(r);
            var dims = new ulong[r.ReadUInt32()];
            for (var d = 0; d < dims.Length; d++)
            {
                dims[d] = r.ReadUInt64();
            }

            tensors[name] = (dims, r.ReadUInt32(), r.ReadUInt64());
        }

        var start = (int)((r.BaseStream.Position + 31) / 32 * 32);
        return new GgufFile(version, metadata, tensors, start);

        static string Str(BinaryReader r) => Encoding.UTF8.GetString(r.ReadBytes((int)r.ReadUInt64()));

        static object Value(BinaryReader r, uint type) => type switch
        {
            0 => r.ReadByte(),
            1 => r.ReadSByte(),
            2 => r.ReadUInt16(),
            3 => r.ReadInt16(),
            4 => r.ReadUInt32(),
            5 => r.ReadInt32(),
            6 => r.ReadSingle(),
            7 => r.ReadByte() != 0,
            8 => Str(r),
            9 => Array(r),
            10 => r.ReadUInt64(),
            11 => r.ReadInt64(),
            12 => r.ReadDouble(),
            _ => throw new InvalidDataException($"type {type}"),
        };

        static object[] Array(BinaryReader r)
        {
            var type = r.ReadUInt32();
            var n = r.ReadUInt64();
            var items = new object[n];
            for (ulong i = 0; i < n; i++)
            {
                items[i] = Value(r, type);
            }

            return items;
        }
    }
}
