using Attune.Core.Errors;
using Attune.Torch.Serving;
using Attune.Torch.Tokenizers;

namespace Attune.Torch.Tests.Serving;

public class ChatTemplateTests
{
    private static readonly ChatTurn[] Conversation =
    [
        new("system", "Be brief."),
        new("user", "Hi!"),
        new("assistant", "Hello."),
        new("user", "2+2?"),
    ];

    [Fact]
    public void ChatMl_formats_exactly_as_qwen()
    {
        Assert.Equal(
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n",
            ChatTemplate.ChatMl.Format(Conversation));
        Assert.Equal("<|im_start|>user\nHi!<|im_end|>\n", ChatTemplate.ChatMl.Format([new("user", "Hi!")], addGenerationPrompt: false));
        Assert.Equal("<|im_end|>", ChatTemplate.ChatMl.EndOfTurn);
    }

    [Fact]
    public void Llama3_formats_exactly_as_meta()
    {
        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
            + "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|>"
            + "<|start_header_id|>assistant<|end_header_id|>\n\n",
            ChatTemplate.Llama3.Format(Conversation));
        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>",
            ChatTemplate.Llama3.Format([new("user", "  Hi!\n")], addGenerationPrompt: false));
        Assert.Equal("<|eot_id|>", ChatTemplate.Llama3.EndOfTurn);
    }

    [Fact]
    public void Chosen_from_the_name_then_the_special_tokens_then_the_family()
    {
        var chatml = AutoTokenizer.Load(Path.Combine(Fixtures.Root, "hf-tiny", "tokenizer.json"));
        Assert.Same(ChatTemplate.ChatMl, ChatTemplate.Select(chatml, "llama"));
        Assert.Same(ChatTemplate.Llama3, ChatTemplate.Select(chatml, "llama", explicitName: "llama3"));

        var chars = CharTokenizer.FromAlphabet("abc");
        Assert.Same(ChatTemplate.ChatMl, ChatTemplate.Select(chars, "qwen2"));
        var ex = Assert.Throws<AttuneInputException>(() => ChatTemplate.Select(chars, "llama"));
        Assert.Contains("?template=", ex.Message, StringComparison.Ordinal);
        Assert.Throws<AttuneInputException>(() => ChatTemplate.Named("vicuna"));
    }

    [Fact]
    public void Chosen_from_tokenizer_config_chat_template_when_present()
    {
        using var dir = new TempDir();
        var file = Path.Combine(dir.Path, "tokenizer.json");
        File.Copy(Path.Combine(Fixtures.Root, "hf-tiny", "tokenizer.json"), file);
        File.WriteAllText(Path.Combine(dir.Path, "tokenizer_config.json"), "{\"chat_template\": \"{{ '<|start_header_id|>' }}\"}");
        Assert.Same(ChatTemplate.Llama3, ChatTemplate.Select(AutoTokenizer.Load(file), "llama"));
    }
}
