using System.Text;
using Attune.Core.Errors;
using Attune.Torch.Models;
using Attune.Torch.Safetensors;
using TorchSharp;
using static TorchSharp.torch;
using ST = Attune.Torch.Safetensors.Safetensors;

namespace Attune.Torch.Tests;

public class SafetensorsTests
{
    [Theory]
    [InlineData(SafetensorsDType.F32, 0.0)]
    [InlineData(SafetensorsDType.F16, 1e-3)]
    [InlineData(SafetensorsDType.BF16, 1e-2)]
    public void Round_trips_in_each_float_type(SafetensorsDType dtype, double tolerance)
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "t.safetensors");
        var a = tensor(new float[] { 1.5f, -2.25f, 3.125f, 0.1f, 65000f / 1000 }).reshape(5, 1);
        var ids = tensor(new long[] { 7, 8, 9 });
        ST.Save(path, new Dictionary<string, Tensor> { ["a"] = a, ["ids"] = ids, ["empty"] = zeros(0, 3) }, dtype);
        var header = SafetensorsHeader.Read(path);
        Assert.Equal(dtype, header.Tensors["a"].DType);
        Assert.Equal(SafetensorsDType.I64, header.Tensors["ids"].DType);
        Assert.Equal(0, header.DataOffset % 8);
        Assert.Equal("pt", header.Metadata["format"]);
        var back = ST.Load(path, ScalarType.Float32);
        Assert.Equal([5L, 1L], back["a"].shape);
        Assert.True(back["a"].allclose(a, rtol: tolerance, atol: tolerance));
        Assert.Equal([7f, 8f, 9f], back["ids"].data<float>().ToArray());
        Assert.Equal([0L, 3L], back["empty"].shape);
    }

    [Fact]
    public void Reads_the_reference_file_written_by_the_python_library()
    {
        var header = SafetensorsHeader.Read(Path.Combine(Fixtures.Model("llama"), "model.safetensors"));
        Assert.Equal([512L, 64L], header.Tensors["model.embed_tokens.weight"].Shape);
        Assert.All(header.Tensors.Values, t => Assert.Equal(SafetensorsDType.F32, t.DType));
    }

    [Fact]
    public void A_sharded_checkpoint_loads_the_same_model()
    {
        using var dir = new TempDir();
        using var model = CausalLM.Load(Fixtures.Model("qwen3"));
        model.Save(dir.Path, maxShardBytes: 200_000);
        Assert.True(File.Exists(Path.Combine(dir.Path, ST.IndexFile)));
        Assert.False(File.Exists(Path.Combine(dir.Path, ST.SingleFile)));
        Assert.True(Directory.GetFiles(dir.Path, "model-*-of-*.safetensors").Length > 1);
        using var again = CausalLM.Load(dir.Path);
        using var ids = tensor(new long[] { 1, 2, 3 }).unsqueeze(0);
        using var noGrad = no_grad();
        Assert.True(model.Forward(ids).allclose(again.Forward(ids), rtol: 0, atol: 0));
        // The tied head is not written, as save_pretrained does.
        Assert.DoesNotContain("lm_head.weight", ST.ReadIndex(Path.Combine(dir.Path, ST.IndexFile)).Keys);
    }

    [Fact]
    public void Truncated_data_is_named()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "t.safetensors");
        ST.Save(path, new Dictionary<string, Tensor> { ["a"] = ones(100) });
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^10]);
        var ex = Assert.Throws<AttuneInputException>(() => ST.Load(path));
        Assert.Equal("a", ex.Field);
        Assert.Contains("truncated", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "shorter than the 8-byte header length")]
    [InlineData("HUGE", "exceeds")]
    [InlineData("LIE", "larger than the")]
    [InlineData("{\"a\":{\"dtype\":\"F7\",\"shape\":[1],\"data_offsets\":[0,4]}}", "unknown dtype 'F7'")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", "needs 8 bytes")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", "not a non-negative integer")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,4]}}", "overflows")]
    [InlineData("[1,2]", "not a JSON object")]
    [InlineData("{\"a\":", "not valid JSON")]
    public void Malformed_headers_fail_clearly(string header, string expected)
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "bad.safetensors");
        byte[] bytes = header switch
        {
            "" => [1, 2, 3],
            "HUGE" => [.. BitConverter.GetBytes(ulong.MaxValue - 5), .. new byte[16]],
            "LIE" => [.. BitConverter.GetBytes(1000UL), .. "{}"u8.ToArray()],
            _ => [.. BitConverter.GetBytes((ulong)Encoding.UTF8.GetByteCount(header)), .. Encoding.UTF8.GetBytes(header), .. new byte[4]],
        };
        File.WriteAllBytes(path, bytes);
        var ex = Assert.Throws<AttuneInputException>(() => SafetensorsHeader.Read(path));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.StartsWith(path, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Shapes_that_do_not_match_the_config_are_named()
    {
        using var dir = new TempDir();
        using var model = CausalLM.Load(Fixtures.Model("llama"));
        model.Save(dir.Path);
        var config = File.ReadAllText(Path.Combine(dir.Path, "config.json"));
        File.WriteAllText(Path.Combine(dir.Path, "config.json"), config.Replace("\"intermediate_size\": 128", "\"intermediate_size\": 96", StringComparison.Ordinal));
        var ex = Assert.Throws<AttuneInputException>(() => CausalLM.Load(dir.Path));
        Assert.Contains("mlp", ex.Field!, StringComparison.Ordinal);
        Assert.Contains("does not match", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Property: whatever bytes stand where a header should, the parser either accepts them with
    /// every tensor inside the data section, or throws AttuneInputException; never anything else,
    /// and never allocates more than the file. Mutations of a valid file plus random headers.
    /// </summary>
    [Fact]
    public void Header_parser_survives_fuzzing()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "seed.safetensors");
        ST.Save(path, new Dictionary<string, Tensor> { ["a"] = ones(3, 2), ["b"] = tensor(new long[] { 1, 2 }) });
        var valid = File.ReadAllBytes(path);
        var rng = new Random(20261127);
        var accepted = 0;
        for (var i = 0; i < 3000; i++)
        {
            var bytes = (byte[])valid.Clone();
            switch (i % 4)
            {
                case 0: // flip random bytes anywhere
                    for (var k = 0; k < 1 + rng.Next(4); k++)
                    {
                        bytes[rng.Next(bytes.Length)] = (byte)rng.Next(256);
                    }

                    break;
                case 1: // digits in the header JSON
                    var headerEnd = 8 + (int)BitConverter.ToUInt64(valid, 0);
                    var digits = Enumerable.Range(8, headerEnd - 8).Where(j => bytes[j] is >= (byte)'0' and <= (byte)'9').ToList();
                    bytes[digits[rng.Next(digits.Count)]] = (byte)('0' + rng.Next(10));
                    break;
                case 2: // truncate
                    bytes = bytes[..rng.Next(bytes.Length)];
                    break;
                default: // random header length
                    BitConverter.TryWriteBytes(bytes.AsSpan(0, 8), (ulong)rng.NextInt64());
                    break;
            }

            using var stream = new MemoryStream(bytes);
            try
            {
                var header = SafetensorsHeader.Read(stream, "fuzz");
                var dataLength = bytes.Length - header.DataOffset;
                Assert.All(header.Tensors.Values, t => Assert.InRange(t.End, t.Begin, dataLength));
                accepted++;
            }
            catch (AttuneInputException)
            {
            }
        }

        Assert.InRange(accepted, 1, 2999); // some mutations keep the file valid, most do not
    }
}
