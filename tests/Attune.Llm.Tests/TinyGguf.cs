using Attune.Torch.Gguf;
using Attune.Torch.Serving;

namespace Attune.Llm.Tests;

/// <summary>
/// Writes a real, tiny GGUF (v3) llama model that llama.cpp loads and runs: 1 layer, 16-wide,
/// 2 heads, a SentencePiece-style vocabulary (control tokens, the 256 byte tokens, a few words)
/// and a ChatML chat template, written with Attune.Torch's <see cref="GgufWriter"/>. The weights make it a deterministic bigram machine: attention and
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
        var w = new GgufWriter();
        w.Add("general.architecture", "llama");
        w.Add("general.name", "attune-tiny-pong");
        w.Add("llama.context_length", 256u);
        w.Add("llama.embedding_length", (uint)Embd);
        w.Add("llama.block_count", 1u);
        w.Add("llama.feed_forward_length", (uint)FeedForward);
        w.Add("llama.attention.head_count", (uint)Heads);
        w.Add("llama.attention.head_count_kv", (uint)Heads);
        w.Add("llama.rope.dimension_count", (uint)(Embd / Heads));
        w.Add("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        w.Add("tokenizer.ggml.model", "llama");
        w.AddArray("tokenizer.ggml.tokens", tokens);
        w.AddArray("tokenizer.ggml.scores", new float[vocab]);
        w.AddArray("tokenizer.ggml.token_type", types);
        w.Add("tokenizer.ggml.unknown_token_id", 0u);
        w.Add("tokenizer.ggml.bos_token_id", 1u);
        w.Add("tokenizer.ggml.eos_token_id", (uint)eos);
        w.Add("tokenizer.ggml.add_bos_token", true);
        w.Add("tokenizer.chat_template", ChatTemplate.ChatMl.Jinja);

        // Shapes as PyTorch writes them ([rows, columns]); the writer stores them innermost first.
        w.AddTensor("token_embd.weight", [vocab, Embd], embeddings);
        w.AddTensor("output_norm.weight", [Embd], ones);
        w.AddTensor("output.weight", [vocab, Embd], output);
        w.AddTensor("blk.0.attn_norm.weight", [Embd], ones);
        w.AddTensor("blk.0.attn_q.weight", [Embd, Embd], new float[Embd * Embd]);
        w.AddTensor("blk.0.attn_k.weight", [Embd, Embd], new float[Embd * Embd]);
        w.AddTensor("blk.0.attn_v.weight", [Embd, Embd], new float[Embd * Embd]);
        w.AddTensor("blk.0.attn_output.weight", [Embd, Embd], new float[Embd * Embd]);
        w.AddTensor("blk.0.ffn_norm.weight", [Embd], ones);
        w.AddTensor("blk.0.ffn_gate.weight", [FeedForward, Embd], new float[Embd * FeedForward]);
        w.AddTensor("blk.0.ffn_up.weight", [FeedForward, Embd], new float[Embd * FeedForward]);
        w.AddTensor("blk.0.ffn_down.weight", [Embd, FeedForward], new float[FeedForward * Embd]);
        w.Write(path);
    }
}
