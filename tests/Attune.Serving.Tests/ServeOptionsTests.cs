using Attune.Core.Errors;

namespace Attune.Serving.Tests;

public class ServeOptionsTests
{
    [Theory]
    [InlineData("http://127.0.0.1:8000", true)]
    [InlineData("http://127.0.0.2:8000", true)]
    [InlineData("http://localhost:8000", true)]
    [InlineData("http://[::1]:8000", true)]
    [InlineData("https://127.0.0.1", true)]
    [InlineData("http://0.0.0.0:8000", false)]
    [InlineData("http://*:8000", false)]
    [InlineData("http://+:8000", false)]
    [InlineData("http://[::]:8000", false)]
    [InlineData("http://192.168.1.5:8000", false)]
    [InlineData("http://example.org:8000", false)]
    [InlineData("http://localhost.example.org:8000", false)]
    public void Only_loopback_addresses_are_loopback(string url, bool loopback) => Assert.Equal(loopback, ServeOptions.IsLoopback(url));

    [Fact]
    public void A_non_loopback_address_needs_a_key_and_every_address_is_checked()
    {
        var error = Assert.Throws<AttuneInputException>(() => new ServeOptions { ModelName = "m", Urls = "http://127.0.0.1:8000;http://0.0.0.0:9000" }.Validate());
        Assert.Contains("'http://0.0.0.0:9000' is not a loopback address", error.Message, StringComparison.Ordinal);
        new ServeOptions { ModelName = "m", Urls = "http://0.0.0.0:9000", ApiKey = "k" }.Validate();
        new ServeOptions { ModelName = "m", Urls = "http://127.0.0.1:0" }.Validate();
        Assert.Throws<AttuneInputException>(() => new ServeOptions { ModelName = "m", MaxConcurrency = 0 }.Validate());
        Assert.Throws<AttuneInputException>(() => new ServeOptions { ModelName = "m", Urls = "127.0.0.1:8000" }.Validate());
    }
}
