using Attune.Core.Errors;
using Attune.Torch.Gguf;
using Attune.Torch.Models;
using Attune.Torch.Serving;
using Attune.Torch.Tokenizers;
using LLama;
using LLama.Common;
using LLama.Native;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Attune.Torch.Tests.Gguf;

/// <summary>The fixture models exported to GGUF and run by llama.cpp (LLamaSharp 0.30.0) agree with Attune.</summary>
public class GgufExportTests(ITestOutputHelper output)
{
    public static TheoryData<string> Architectures => new() { "llama", "qwen2", "qwen3" };

    private static string TokenizerFile => Path.Combine(Fixtures.Root, "hf-tiny", "tokenizer.json");

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Llama_cpp_last_row_logits_match_attune_within_1e_3_in_f32(string arch)
    {
        using var dir = new TempDir();
        var (model, tok) = ModelFolder.Open(Fixtures.Model(arch), TokenizerFile);
        using (model)
        {
            var f32 = Path.Combine(dir.Path, $"{arch}-f32.gguf");
            var f16 = Path.Combine(dir.Path, $"{arch}-f16.gguf");
            GgufExporter.Export(model, tok, f32, GgmlType.F32);
            GgufExporter.Export(model, tok, f16, GgmlType.F16);
            foreach (var item in Fixtures.Expected(arch).GetProperty("logits").EnumerateArray())
            {
                var text = item.GetProperty("text").GetString()!;
                var ids = tok.Encode(text);
                var ours = AttuneLastRow(model, ids);
                var (llamaIds, theirs) = LlamaCppLastRow(f32, text, ids);
                Assert.Equal(ids, llamaIds);   // llama.cpp's tokenizer reads the exported vocabulary the same way
                var diff = MaxAbsDiff(ours, theirs);
                var (_, theirs16) = LlamaCppLastRow(f16, text, ids);
                var diff16 = MaxAbsDiff(ours, theirs16);
                output.WriteLine($"{arch} '{text}': {ids.Length} tokens, max |Δ| f32 {diff:E2}, f16 {diff16:E2}");
                Assert.True(diff < 1e-3, $"{arch}: f32 max |Δ| {diff}");
                Assert.True(diff16 < 2e-2, $"{arch}: f16 max |Δ| {diff16}");
            }
        }
    }

    [Fact]
    public void Exported_llama_with_llama3_rope_scaling_matches_too()
    {
        // No fixture has Llama 3 rope scaling; the exported rope_freqs tensor must reproduce it.
        using var dir = new TempDir();
        var config = BuiltInModels.Create("llama", "tiny", 512) with
        {
            Rope = new RopeSettings(500000.0, "llama3", Factor: 8, LowFrequencyFactor: 1, HighFrequencyFactor: 4, OriginalMaxPositions: 16),
        };
        using var model = ModelFolder.Initialize(config, seed: 5);
        model.eval();
        var tok = BpeTokenizer.Load(TokenizerFile);
        var path = Path.Combine(dir.Path, "llama3-rope.gguf");
        GgufExporter.Export(model, tok, path);
        var text = "The quick brown fox jumps over the lazy dog, again and again and again.";
        var ids = tok.Encode(text);
        var diff = MaxAbsDiff(AttuneLastRow(model, ids), LlamaCppLastRow(path, text, ids).Logits);
        output.WriteLine($"llama3 rope: {ids.Length} tokens, max |Δ| {diff:E2}");
        Assert.True(diff < 1e-3, $"max |Δ| {diff}");
    }

    [Fact]
    public void Tied_embeddings_leave_out_the_output_tensor()
    {
        using var qwen3 = CausalLM.Load(Fixtures.Model("qwen3"));
        var tok = BpeTokenizer.Load(TokenizerFile);
        var (writer, pre, chat) = GgufExporter.Build(qwen3, tok, GgmlType.F32, null, "t");
        Assert.DoesNotContain("output.weight", writer.TensorNames);
        Assert.Contains("blk.1.attn_q_norm.weight", writer.TensorNames);
        Assert.Contains("blk.1.attn_k_norm.weight", writer.TensorNames);
        Assert.Equal("gpt-2", pre);
        Assert.Equal("chatml", chat);

        using var qwen2 = CausalLM.Load(Fixtures.Model("qwen2"));
        var names = GgufExporter.Build(qwen2, tok, GgmlType.F32, null, "t").Writer.TensorNames;
        Assert.Contains("blk.0.attn_q.bias", names);
        Assert.DoesNotContain("output.weight", names);
        Assert.Equal(2 + (2 * 12), names.Count);   // embeddings, final norm; 9 weights + 3 biases per layer

        using var llama = CausalLM.Load(Fixtures.Model("llama"));
        names = GgufExporter.Build(llama, tok, GgmlType.F32, null, "t").Writer.TensorNames;
        Assert.Contains("output.weight", names);
        Assert.Equal(3 + (2 * 9), names.Count);
    }

    [Fact]
    public void Permute_for_rope_interleaves_the_two_halves_of_each_head()
    {
        // 2 heads of dim 4: rows [h0: 0 1 | 2 3, h1: 4 5 | 6 7] -> [0 2 1 3, 4 6 5 7].
        using var w = arange(8, dtype: ScalarType.Float32).reshape(8, 1);
        using var p = GgufExporter.PermuteForRope(w, heads: 2);
        Assert.Equal(new float[] { 0, 2, 1, 3, 4, 6, 5, 7 }, p.data<float>().ToArray());
    }

    [Fact]
    public void Hugging_face_names_map_to_llama_cpp_names()
    {
        Assert.Equal("token_embd.weight", GgufExporter.TensorName("model.embed_tokens.weight"));
        Assert.Equal("blk.7.attn_output.weight", GgufExporter.TensorName("model.layers.7.self_attn.o_proj.weight"));
        Assert.Equal("blk.0.ffn_down.weight", GgufExporter.TensorName("model.layers.0.mlp.down_proj.weight"));
        Assert.Equal("blk.3.ffn_norm.weight", GgufExporter.TensorName("model.layers.3.post_attention_layernorm.weight"));
        Assert.Throws<AttuneInputException>(() => GgufExporter.TensorName("model.layers.0.self_attn.q_proj.lora_A.weight"));
    }

    [Fact]
    public void A_character_tokenizer_cannot_be_exported()
    {
        var config = BuiltInModels.Create("llama", "tiny", 100);
        using var model = new CausalLM(config);
        var chars = CharTokenizer.FromAlphabet("abc");
        var ex = Assert.Throws<AttuneInputException>(() => GgufExporter.Build(model, chars, GgmlType.F32, ChatTemplate.ChatMl, "x"));
        Assert.Contains("byte-level BPE", ex.Message, StringComparison.Ordinal);
        Assert.Contains("CharTokenizer", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_pre_tokenizer_pattern_is_refused_by_name()
    {
        using var dir = new TempDir();
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(TokenizerFile))!;
        json["pre_tokenizer"] = System.Text.Json.Nodes.JsonNode.Parse(
            """{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"\\d+"},"behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]}""");
        var file = Path.Combine(dir.Path, "tokenizer.json");
        File.WriteAllText(file, json.ToJsonString());
        using var model = CausalLM.Load(Fixtures.Model("llama"));
        var ex = Assert.Throws<AttuneInputException>(() => GgufExporter.Build(model, BpeTokenizer.Load(file), GgmlType.F32, null, "x"));
        Assert.Equal("pre_tokenizer", ex.Field);
    }

    internal static float[] AttuneLastRow(CausalLM model, int[] ids)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var logits = model.Forward(tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length]));
        return logits[0, -1].data<float>().ToArray();
    }

    /// <summary>llama.cpp's token ids for <paramref name="text"/>, and its logits after <paramref name="ids"/>.</summary>
    internal static (int[] Ids, float[] Logits) LlamaCppLastRow(string path, string text, int[] ids)
    {
        var parameters = new ModelParams(path)
        {
            ContextSize = 256,
            BatchSize = 256,
            GpuLayerCount = 0,
            Threads = 1,
            TypeK = GGMLType.GGML_TYPE_F32,   // the default F16 cache would cost about 1e-3 by itself
            TypeV = GGMLType.GGML_TYPE_F32,
        };
        using var weights = LLamaWeights.LoadFromFile(parameters);
        using var context = weights.CreateContext(parameters);
        var llamaIds = context.Tokenize(text, addBos: false, special: true).Select(t => (int)t).ToArray();
        var batch = new LLamaBatch();
        for (var i = 0; i < ids.Length; i++)
        {
            batch.Add(ids[i], i, LLamaSeqId.Zero, i == ids.Length - 1);
        }

        var result = context.Decode(batch);
        Assert.Equal(DecodeResult.Ok, result);
        var logits = context.NativeHandle.GetLogitsIth(ids.Length - 1).ToArray();
        return (llamaIds, logits);
    }

    internal static double MaxAbsDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        return a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();
    }
}
