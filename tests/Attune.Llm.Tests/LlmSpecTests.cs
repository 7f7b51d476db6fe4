using Attune.Core.Errors;
using Microsoft.Extensions.AI;

namespace Attune.Llm.Tests;

public class LlmSpecTests
{
    [Fact]
    public void Http_spec_gives_endpoint_and_model()
    {
        var spec = LlmSpec.Parse("http://127.0.0.1:8000/v1?model=qwen2.5-0.5b");
        Assert.Equal("http", spec.Scheme);
        Assert.True(spec.IsHttp);
        Assert.Equal(new Uri("http://127.0.0.1:8000/v1"), spec.Endpoint);
        Assert.Equal("qwen2.5-0.5b", spec.Model);
    }

    [Fact]
    public void Model_names_are_unescaped()
    {
        var spec = LlmSpec.Parse("https://api.example.com/v1?model=org%2Fmodel%3Alatest");
        Assert.Equal("org/model:latest", spec.Model);
        Assert.Equal("https", spec.Scheme);
    }

    [Theory]
    [InlineData("http://127.0.0.1:8000/v1")]
    [InlineData("http://127.0.0.1:8000/v1?model=")]
    [InlineData("https://host/v1?temperature=0")]
    public void Http_without_model_is_bad_input_naming_the_field(string text)
    {
        var ex = Assert.Throws<AttuneInputException>(() => LlmSpec.Parse(text));
        Assert.Contains("field 'model'", ex.Message, StringComparison.Ordinal);
        Assert.Contains(text, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("gguf:")]
    [InlineData("replay:  ")]
    public void Empty_path_is_bad_input(string text)
    {
        var ex = Assert.Throws<AttuneInputException>(() => LlmSpec.Parse(text));
        Assert.Contains("empty path", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    public void No_spec_says_how_to_give_one(string? text)
    {
        var ex = Assert.Throws<AttuneInputException>(() => LlmSpec.Parse(text));
        Assert.Contains("--llm", ex.Message, StringComparison.Ordinal);
        Assert.Contains("ATTUNE_LLM", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Text_without_a_scheme_lists_the_known_schemes()
    {
        var ex = Assert.Throws<AttuneInputException>(() => LlmSpec.Parse("model.gguf"));
        Assert.Contains("gguf, http, https, replay", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_scheme_is_bad_input_listing_the_known_schemes()
    {
        var ex = Assert.Throws<AttuneInputException>(() => LlmEndpoints.Create("ollama:llama3"));
        Assert.Contains("unknown scheme 'ollama'", ex.Message, StringComparison.Ordinal);
        foreach (var scheme in new[] { "gguf", "http", "https", "replay" })
        {
            Assert.Contains(scheme, ex.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Parameters_of_file_schemes_are_parsed_and_checked()
    {
        var spec = LlmSpec.Parse("gguf:/models/tiny.gguf?ctx=512&threads=2");
        Assert.Equal("/models/tiny.gguf", spec.Target);
        Assert.Equal(512, spec.IntParameter("ctx", 0));
        var bad = LlmSpec.Parse("gguf:/models/tiny.gguf?ctx=lots");
        Assert.Contains("field 'ctx'", Assert.Throws<AttuneInputException>(() => bad.IntParameter("ctx", 0)).Message, StringComparison.Ordinal);
        var unknown = Assert.Throws<AttuneInputException>(() => LlmEndpoints.Create("http://h:1/v1?model=m&color=red"));
        Assert.Contains("field 'color'", unknown.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Another_assembly_can_register_a_scheme()
    {
        LlmSpec? seen = null;
        using var stub = new ScriptedChatClient("from hf");
        LlmEndpoints.Register("hf-test", spec =>
        {
            seen = spec;
            return stub;
        });
        try
        {
            Assert.Contains("hf-test", LlmEndpoints.KnownSchemes);
            var client = LlmEndpoints.Create("hf-test:/checkpoints/tiny?dtype=float32");
            Assert.Same(stub, client);
            Assert.Equal("/checkpoints/tiny", seen!.Target);
            Assert.Equal("float32", seen.Parameters["dtype"]);
        }
        finally
        {
            Assert.True(LlmEndpoints.Unregister("hf-test"));
        }

        Assert.Throws<AttuneInputException>(() => LlmEndpoints.Create("hf-test:/x"));
    }

    [Fact]
    public void Built_in_schemes_cannot_be_replaced()
    {
        Assert.Throws<ArgumentException>(() => LlmEndpoints.Register("gguf", _ => new ScriptedChatClient("x")));
        Assert.False(LlmEndpoints.Unregister("replay"));
    }
}
