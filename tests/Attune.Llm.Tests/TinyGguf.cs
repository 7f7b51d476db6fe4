using System.Text;

namespace Attune.Llm.Tests;

/// <summary>
/// Writes a real, tiny GGUF (v3) llama model that llama.cpp loads and runs: 1 layer, 16-wide,
/// 2 heads, a SentencePiece-style vocabulary (control tokens, the 256 byte tokens, a few words)
/// and a ChatML chat template. The weights make it a deterministic bigram machine: attention and
/// MLP weights are zero, so each position's hidden state is its token's embedding, and the
/// output projection turns that into a bigram table: the newline byte points to "pong", every
/// other token to "▁hello", and both words point to end-of-sequence. So the
/// model continues a prompt that ends in a newline (as the ChatML generation prompt
/// "&lt;|im_start|&gt;assistant\n" does) with "pong", any other prompt with " hello", and stops.
/// </summary>
internal static class TinyGguf
{
    private const int Embd = 16;
    private const int Heads = 2;
    private const int FeedForward = 32;
    private const int Alignment = 32;

    /// <summary>The answer to a prompt ending in a newline (a ChatML generation prompt).</summary>
    public const string Answer = "pong";

    /// <summary>The answer to any other prompt (e.g. a plain "User: …\nAssistant: " transcript).</summary>
    public const string OtherAnswer = "hello";

    public static void Write(string path)
    {
        var tokens = new List<string> { "<unk>", "<s>", "</s>" };
        var types = new List<int> { 2, 3, 3 }; // unknown, control, control
        for (var b = 0; b < 256; b++)
        {
            tokens.Add($"<0x{b:X2}>");
            types.Add(6); // byte
        }

        foreach (var word in new[] { "▁", Answer, "▁ping", "▁hello", "user", "assistant", "system" })
        {
            tokens.Add(word);
            types.Add(1); // normal
        }

        var vocab = tokens.Count;
        var pong = tokens.IndexOf(Answer);
        var hello = tokens.IndexOf("▁hello");
        var newline = tokens.IndexOf("<0x0A>");
        const int eos = 2;

        // Embeddings: the newline byte is e1, the two answer words e2, every other token e3.
        var embeddings = new float[vocab * Embd];
        for (var t = 0; t < vocab; t++)
        {
            embeddings[(t * Embd) + (t == newline ? 1 : t == pong || t == hello ? 2 : 3)] = 1f;
        }

        // Output projection, row per token: after e1 say "pong", after e3 "▁hello", after e2 end.
        var output = new float[vocab * Embd];
        output[(pong * Embd) + 1] = 100f;
        output[(eos * Embd) + 2] = 100f;
        output[(hello * Embd) + 3] = 100f;

        var ones = Enumerable.Repeat(1f, Embd).ToArray();
        var tensors = new List<(string Name, long[] Dims, float[] Data)>
        {
            ("token_embd.weight", [Embd, vocab], embeddings),
            ("output_norm.weight", [Embd], ones),
            ("output.weight", [Embd, vocab], output),
            ("blk.0.attn_norm.weight", [Embd], ones),
            ("blk.0.attn_q.weight", [Embd, Embd], new float[Embd * Embd]),
            ("blk.0.attn_k.weight", [Embd, Embd], new float[Embd * Embd]),
            ("blk.0.attn_v.weight", [Embd, Embd], new float[Embd * Embd]),
            ("blk.0.attn_output.weight", [Embd, Embd], new float[Embd * Embd]),
            ("blk.0.ffn_norm.weight", [Embd], ones),
            ("blk.0.ffn_gate.weight", [Embd, FeedForward], new float[Embd * FeedForward]),
            ("blk.0.ffn_up.weight", [Embd, FeedForward], new float[Embd * FeedForward]),
            ("blk.0.ffn_down.weight", [FeedForward, Embd], new float[FeedForward * Embd]),
        };

        var kv = new List<Action<BinaryWriter>>
        {
            w => Str(w, "general.architecture", "llama"),
            w => Str(w, "general.name", "attune-tiny-pong"),
            w => U32(w, "llama.context_length", 256),
            w => U32(w, "llama.embedding_length", Embd),
            w => U32(w, "llama.block_count", 1),
            w => U32(w, "llama.feed_forward_length", FeedForward),
            w => U32(w, "llama.attention.head_count", Heads),
            w => U32(w, "llama.attention.head_count_kv", Heads),
            w => U32(w, "llama.rope.dimension_count", Embd / Heads),
            w => F32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f),
            w => Str(w, "tokenizer.ggml.model", "llama"),
            w => StrArray(w, "tokenizer.ggml.tokens", tokens),
            w => F32Array(w, "tokenizer.ggml.scores", new float[vocab]),
            w => I32Array(w, "tokenizer.ggml.token_type", types),
            w => U32(w, "tokenizer.ggml.unknown_token_id", 0),
            w => U32(w, "tokenizer.ggml.bos_token_id", 1),
            w => U32(w, "tokenizer.ggml.eos_token_id", eos),
            w => Bool(w, "tokenizer.ggml.add_bos_token", true),
            w => Str(w, "tokenizer.chat_template",
                "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"),
        };

        using var file = File.Create(path);
        using var w = new BinaryWriter(file, Encoding.UTF8);
        w.Write("GGUF"u8);
        w.Write(3u);
        w.Write((ulong)tensors.Count);
        w.Write((ulong)kv.Count);
        foreach (var write in kv)
        {
            write(w);
        }

        ulong offset = 0;
        foreach (var (name, dims, data) in tensors)
        {
            String(w, name);
            w.Write((uint)dims.Length);
            foreach (var d in dims)
            {
                w.Write((ulong)d);
            }

            w.Write(0u); // GGML_TYPE_F32
            w.Write(offset);
            offset = Align((ulong)(data.Length * 4) + offset);
        }

        Pad(w);
        foreach (var (_, _, data) in tensors)
        {
            foreach (var x in data)
            {
                w.Write(x);
            }

            Pad(w);
        }
    }

    private static ulong Align(ulong n) => (n + Alignment - 1) / Alignment * Alignment;

    private static void Pad(BinaryWriter w)
    {
        w.Flush();
        while (w.BaseStream.Position % Alignment != 0)
        {
            w.Write((byte)0);
        }
    }

    private static void String(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static void Key(BinaryWriter w, string key, uint type)
    {
        String(w, key);
        w.Write(type);
    }

    private static void Str(BinaryWriter w, string key, string value)
    {
        Key(w, key, 8);
        String(w, value);
    }

    private static void U32(BinaryWriter w, string key, uint value)
    {
        Key(w, key, 4);
        w.Write(value);
    }

    private static void F32(BinaryWriter w, string key, float value)
    {
        Key(w, key, 6);
        w.Write(value);
    }

    private static void Bool(BinaryWriter w, string key, bool value)
    {
        Key(w, key, 7);
        w.Write(value ? (byte)1 : (byte)0);
    }

    private static void StrArray(BinaryWriter w, string key, List<string> values)
    {
        Key(w, key, 9);
        w.Write(8u);
        w.Write((ulong)values.Count);
        foreach (var v in values)
        {
            String(w, v);
        }
    }

    private static void F32Array(BinaryWriter w, string key, float[] values)
    {
        Key(w, key, 9);
        w.Write(6u);
        w.Write((ulong)values.Length);
        foreach (var v in values)
        {
            w.Write(v);
        }
    }

    private static void I32Array(BinaryWriter w, string key, List<int> values)
    {
        Key(w, key, 9);
        w.Write(5u);
        w.Write((ulong)values.Count);
        foreach (var v in values)
        {
            w.Write(v);
        }
    }
}
