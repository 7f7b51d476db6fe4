using System.Text;
using System.Text.Json;
using Attune.Core.Errors;
using Attune.Torch.Tokenizers;

namespace Attune.Torch.Serving;

/// <summary>One turn of a conversation: a role (<c>system</c>, <c>user</c>, <c>assistant</c>, …) and its text.</summary>
public readonly record struct ChatTurn(string Role, string Content);

/// <summary>
/// How a conversation becomes the prompt text of a chat model, and the token that ends the
/// model's turn. Two formats: ChatML (Qwen) and Llama 3. Each also carries the equivalent Jinja
/// template, the form Hugging Face's <c>tokenizer_config.json</c> and GGUF's
/// <c>tokenizer.chat_template</c> hold, so llama.cpp formats an exported model's prompts the same way.
/// </summary>
public sealed class ChatTemplate
{
    private readonly Func<IReadOnlyList<ChatTurn>, bool, string> _format;

    private ChatTemplate(string name, string endOfTurn, string jinja, Func<IReadOnlyList<ChatTurn>, bool, string> format)
    {
        Name = name;
        EndOfTurn = endOfTurn;
        Jinja = jinja;
        _format = format;
    }

    /// <summary><c>chatml</c> or <c>llama3</c>.</summary>
    public string Name { get; }

    /// <summary>The special token that ends a turn (and so the model's answer).</summary>
    public string EndOfTurn { get; }

    /// <summary>The same format as a Jinja chat template.</summary>
    public string Jinja { get; }

    /// <summary>The names <see cref="Named"/> accepts.</summary>
    public static readonly IReadOnlyList<string> Names = ["chatml", "llama3"];

    /// <summary>
    /// ChatML, as Qwen2/Qwen3 use it: <c>&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n</c> per turn,
    /// then <c>&lt;|im_start|&gt;assistant\n</c> as the generation prompt. No default system turn is added.
    /// </summary>
    public static ChatTemplate ChatMl { get; } = new(
        "chatml",
        "<|im_end|>",
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
        (turns, generationPrompt) =>
        {
            var sb = new StringBuilder();
            foreach (var (role, content) in turns)
            {
                sb.Append("<|im_start|>").Append(role).Append('\n').Append(content).Append("<|im_end|>\n");
            }

            if (generationPrompt)
            {
                sb.Append("<|im_start|>assistant\n");
            }

            return sb.ToString();
        });

    /// <summary>
    /// Llama 3: <c>&lt;|begin_of_text|&gt;</c>, then <c>&lt;|start_header_id|&gt;role&lt;|end_header_id|&gt;\n\ncontent&lt;|eot_id|&gt;</c>
    /// per turn (content trimmed, as Meta's template does), then the assistant header as the generation prompt.
    /// </summary>
    public static ChatTemplate Llama3 { get; } = new(
        "llama3",
        "<|eot_id|>",
        "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
        (turns, generationPrompt) =>
        {
            var sb = new StringBuilder("<|begin_of_text|>");
            foreach (var (role, content) in turns)
            {
                sb.Append("<|start_header_id|>").Append(role).Append("<|end_header_id|>\n\n").Append(content.Trim()).Append("<|eot_id|>");
            }

            if (generationPrompt)
            {
                sb.Append("<|start_header_id|>assistant<|end_header_id|>\n\n");
            }

            return sb.ToString();
        });

    /// <summary>The prompt text of <paramref name="turns"/>; with <paramref name="addGenerationPrompt"/> it ends where the assistant's answer begins.</summary>
    public string Format(IReadOnlyList<ChatTurn> turns, bool addGenerationPrompt = true)
    {
        ArgumentNullException.ThrowIfNull(turns);
        return _format(turns, addGenerationPrompt);
    }

    /// <summary>The template called <paramref name="name"/> (<c>chatml</c>, <c>llama3</c>; also <c>qwen</c>, <c>llama-3</c>).</summary>
    public static ChatTemplate Named(string name) => name.Trim().ToLowerInvariant() switch
    {
        "chatml" or "qwen" or "qwen2" or "qwen3" => ChatMl,
        "llama3" or "llama-3" or "llama_3" => Llama3,
        _ => throw new AttuneInputException($"unknown chat template '{name}' (known: {string.Join(", ", Names)})"),
    };

    /// <summary>
    /// The template of a model: <paramref name="explicitName"/> when given; else the one whose
    /// markers appear in <c>tokenizer_config.json</c>'s <c>chat_template</c> beside the tokenizer;
    /// else the one whose special tokens the tokenizer has (<c>&lt;|start_header_id|&gt;</c>: Llama 3,
    /// <c>&lt;|im_start|&gt;</c>: ChatML); else ChatML for the Qwen families.
    /// </summary>
    /// <exception cref="AttuneInputException">Nothing identifies a template.</exception>
    public static ChatTemplate Select(ITokenizer tokenizer, string? modelType = null, string? explicitName = null, string? tokenizerPath = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (!string.IsNullOrWhiteSpace(explicitName))
        {
            return Named(explicitName);
        }

        if (ConfigTemplate(tokenizerPath ?? (tokenizer as BpeTokenizer)?.Path) is { } configured)
        {
            if (configured.Contains("<|start_header_id|>", StringComparison.Ordinal))
            {
                return Llama3;
            }

            if (configured.Contains("<|im_start|>", StringComparison.Ordinal))
            {
                return ChatMl;
            }
        }

        if (tokenizer.SpecialTokens.ContainsKey("<|start_header_id|>") && tokenizer.SpecialTokens.ContainsKey("<|eot_id|>"))
        {
            return Llama3;
        }

        if (tokenizer.SpecialTokens.ContainsKey("<|im_start|>") && tokenizer.SpecialTokens.ContainsKey("<|im_end|>"))
        {
            return ChatMl;
        }

        if (modelType is "qwen2" or "qwen3")
        {
            return ChatMl;
        }

        throw new AttuneInputException(
            "no chat template fits this model: its tokenizer has neither <|im_start|>/<|im_end|> (ChatML) nor <|start_header_id|>/<|eot_id|> (Llama 3); name one with --template chatml|llama3 (or ?template=chatml|llama3 in an hf: spec)");
    }

    /// <summary>The <c>chat_template</c> string of the <c>tokenizer_config.json</c> beside <paramref name="tokenizerPath"/>, if any.</summary>
    private static string? ConfigTemplate(string? tokenizerPath)
    {
        if (string.IsNullOrEmpty(tokenizerPath))
        {
            return null;
        }

        var dir = Directory.Exists(tokenizerPath) ? tokenizerPath : Path.GetDirectoryName(Path.GetFullPath(tokenizerPath));
        var config = dir is null ? null : Path.Combine(dir, "tokenizer_config.json");
        if (config is null || !File.Exists(config))
        {
            return null;
        }

        using var doc = Core.IO.JsonFile.Parse(config);
        if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("chat_template", out var t))
        {
            // A string, or a list of {name, template} (the default one first).
            return t.ValueKind switch
            {
                JsonValueKind.String => t.GetString(),
                JsonValueKind.Array => string.Concat(t.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Object && e.TryGetProperty("template", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : "")),
                _ => null,
            };
        }

        return null;
    }
}
