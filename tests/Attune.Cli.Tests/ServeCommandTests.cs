using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Attune.Llm;
using Microsoft.Extensions.AI;

namespace Attune.Cli.Tests;

/// <summary><c>attune serve</c> from the command line, and Attune's own OpenAI client against it.</summary>
public class ServeCommandTests
{
    [Fact]
    public async Task Llm_ping_over_http_answers_as_the_served_checkpoint_does_in_process()
    {
        using var dir = new CliHarness.TempDir();
        var model = ServingCommandTests.ModelWithTokenizer(dir);
        var port = FreePort();
        using var stop = new CancellationTokenSource();
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var serving = new CliApp(stdout, stderr, _ => null).RunAsync(
            ["serve", "--llm", $"hf:{model}", "--urls", $"http://127.0.0.1:{port}", "--model-name", "tiny", "--max-concurrency", "4"], stop.Token);
        try
        {
            await WaitUntilReady(port, serving);

            // Attune's http: endpoint (the OpenAI .NET client) against attune serve: a real round trip.
            var (code, output, error) = await CliHarness.Run("llm", "ping", "--llm", $"http://127.0.0.1:{port}/v1?model=tiny", "--max-tokens", "12", "--json");
            Assert.True(code == 0, error);
            using var doc = JsonDocument.Parse(output);
            Assert.Equal("tiny", doc.RootElement.GetProperty("model").GetString());

            // The same ping in process: the same default sampling (temperature 1, Attune's default seed) gives the same reply.
            using var local = LlmEndpoints.Create($"hf:{model}");
            var expected = await local.GetResponseAsync([new ChatMessage(ChatRole.User, Commands.LlmCommands.DefaultPrompt)], Commands.LlmCommands.PingOptions(12));
            Assert.Equal(expected.Text, doc.RootElement.GetProperty("reply").GetString());
        }
        finally
        {
            await stop.CancelAsync();
        }

        Assert.Equal(CliApp.Cancelled, await serving);   // stopped by the token, as Ctrl-C or SIGTERM stops it: exit 130
        Assert.Contains($"listening on http://127.0.0.1:{port}", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_non_loopback_address_without_a_key_exits_2_with_one_line()
    {
        var (code, stdout, stderr) = await CliHarness.Run("serve", "--llm", "hf:/nowhere", "--urls", "http://0.0.0.0:8000");
        Assert.Equal(CliApp.BadInput, code);
        Assert.Equal("", stdout);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("not a loopback address", line, StringComparison.Ordinal);
        Assert.Contains("--api-key-env", line, StringComparison.Ordinal);

        (code, _, stderr) = await CliHarness.Run("serve", "--llm", "hf:/nowhere", "--urls", "http://0.0.0.0:8000", "--api-key-env", "ATTUNE_NO_SUCH_KEY_VAR");
        Assert.Equal(CliApp.BadInput, code);
        Assert.Contains("ATTUNE_NO_SUCH_KEY_VAR", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_model_that_cannot_load_exits_2_with_one_line()
    {
        var port = FreePort();
        var (code, _, stderr) = await CliHarness.Run("serve", "--llm", "hf:/no/such/model", "--urls", $"http://127.0.0.1:{port}");
        Assert.Equal(CliApp.BadInput, code);
        Assert.Contains("model folder not found", stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1], StringComparison.Ordinal);
    }

    private static async Task WaitUntilReady(int port, Task<int> serving)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            Assert.False(serving.IsCompleted, "attune serve exited early");
            try
            {
                using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/health"));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }

            await Task.Delay(50);
        }

        Assert.Fail("attune serve did not become ready in 60 s");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
