using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Attune.Studies;

namespace Attune.Studies.Tests;

public class SecurityTests
{
    private static StudyConfig Config(int joinLimit = 1000) => TestEnvironment.Demo(c =>
    {
        c.Conditions = [new ConditionConfig { Name = "cyclic", Slots = 50 }];
        c.JoinRateLimitPerMinute = joinLimit;
    });

    [Fact]
    public async Task Another_participants_item_or_an_unknown_token_is_refused()
    {
        await using var server = await RunningServer.StartAsync(Config());
        var a = await ApiParticipant.JoinAsync(server.Client);
        var b = await ApiParticipant.JoinAsync(server.Client);
        Assert.NotEqual(a.Token, b.Token);
        Assert.True(a.Token.Length >= 43, "tokens carry 256 random bits");
        await b.RateCurrentAsync(5);
        var bNext = await b.NextAsync();

        // A submits B's round-2 item with A's token: not the item A was shown.
        using var cross = await a.PostAsync(new { round = 1, item_id = bNext.GetProperty("item").GetProperty("id").GetString(), rating = 5 });
        Assert.Equal(HttpStatusCode.BadRequest, cross.StatusCode);
        using var forged = await server.Client.GetAsync($"/api/participants/{a.Token[..^2]}xx/next");
        Assert.Equal(HttpStatusCode.NotFound, forged.StatusCode);
        using var forgedPost = await server.Client.PostAsJsonAsync("/api/participants/not-a-token/ratings", new { round = 1, item_id = "x", rating = 5 });
        Assert.Equal(HttpStatusCode.NotFound, forgedPost.StatusCode);

        // Nothing A can reach shows B's ratings.
        var aNext = await a.NextAsync();
        Assert.Equal(1, aNext.GetProperty("round").GetInt32());
    }

    [Theory]
    [InlineData(null, HttpStatusCode.Unauthorized)]
    [InlineData("Bearer wrong-token", HttpStatusCode.Unauthorized)]
    [InlineData("Basic dGVzdA==", HttpStatusCode.Unauthorized)]
    [InlineData("Bearer " + RunningServer.AdminToken, HttpStatusCode.OK)]
    [InlineData("bearer " + RunningServer.AdminToken, HttpStatusCode.OK)] // the scheme is case-insensitive (RFC 9110)
    [InlineData("BEARER " + RunningServer.AdminToken, HttpStatusCode.OK)]
    public async Task Admin_endpoints_need_the_admin_token(string? header, HttpStatusCode expected)
    {
        await using var server = await RunningServer.StartAsync(Config());
        foreach (var path in (string[])["/api/admin/export?format=csv", "/api/admin/export?format=jsonl", "/api/admin/progress"])
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            if (header is not null)
            {
                request.Headers.TryAddWithoutValidation("Authorization", header);
            }

            using var response = await server.Client.SendAsync(request);
            Assert.Equal(expected, response.StatusCode);
        }
    }

    [Fact]
    public async Task Ratings_out_of_range_rounds_out_of_order_and_malformed_bodies_are_refused()
    {
        await using var server = await RunningServer.StartAsync(Config());
        var p = await ApiParticipant.JoinAsync(server.Client);
        var item = (await p.NextAsync()).GetProperty("item").GetProperty("id").GetString();
        foreach (var rating in (object[])[0, 10, -3, 4.5, "7"])
        {
            using var r = await p.PostAsync(new { round = 1, item_id = item, rating });
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        }

        using (var ahead = await p.PostAsync(new { round = 3, item_id = item, rating = 5 }))
        {
            Assert.Equal(HttpStatusCode.Conflict, ahead.StatusCode);
        }

        using (var zero = await p.PostAsync(new { round = 0, item_id = item, rating = 5 }))
        {
            Assert.Equal(HttpStatusCode.Conflict, zero.StatusCode);
        }

        using (var noRound = await p.PostAsync(new { item_id = item, rating = 5 }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, noRound.StatusCode);
        }

        using (var text = await server.Client.PostAsync($"/api/participants/{p.Token}/ratings", new StringContent("round=1&rating=5", Encoding.UTF8, "application/x-www-form-urlencoded")))
        {
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, text.StatusCode);
        }

        using (var broken = await server.Client.PostAsync($"/api/participants/{p.Token}/ratings", new StringContent("{\"round\": 1,", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, broken.StatusCode);
        }

        // A repeated key: which value counts would be a guess, so the body is refused naming the key (it was a 500).
        foreach (var (body, key) in new[] { ($"{{\"round\":1,\"item_id\":\"{item}\",\"rating\":5,\"rating\":9}}", "rating"), ($"{{\"round\":1,\"round\":1,\"item_id\":\"{item}\",\"rating\":5}}", "round") })
        {
            using var repeated = await server.Client.PostAsync($"/api/participants/{p.Token}/ratings", new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.BadRequest, repeated.StatusCode);
            Assert.Contains($"'{key}'", await repeated.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var join = await server.Client.PostAsync("/api/participants", new StringContent("{\"consent\":true,\"consent\":false}", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, join.StatusCode);
            Assert.Contains("'consent'", await join.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // Nothing was stored by any refused request.
        Assert.Empty(await server.Store.ExportAsync(default));
        Assert.Equal(1, await p.RateCurrentAsync(5));
    }

    [Fact]
    public async Task Oversized_bodies_are_refused_with_413()
    {
        await using var server = await RunningServer.StartAsync(Config());
        var p = await ApiParticipant.JoinAsync(server.Client);
        var big = JsonSerializer.Serialize(new { round = 1, item_id = new string('x', 64 * 1024), rating = 5 });
        using var response = await server.Client.PostAsync($"/api/participants/{p.Token}/ratings", new StringContent(big, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);

        // Without a declared length (chunked), Kestrel's limit refuses it while reading: the reply is
        // 413, unless the server closed the connection before the client finished sending (then
        // the client sees a reset). Either way nothing is stored.
        var over = JsonSerializer.Serialize(new { round = 1, item_id = new string('x', 20 * 1024), rating = 5 });
        var chunked = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(over)));
        chunked.Headers.ContentType = new("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/participants/{p.Token}/ratings") { Content = chunked };
        request.Headers.TransferEncodingChunked = true;
        try
        {
            using var response2 = await server.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response2.StatusCode);
        }
        catch (HttpRequestException)
        {
            // Reset mid-upload: refused as well.
        }

        Assert.Empty(await server.Store.ExportAsync(default));
        Assert.Equal(1, (await p.NextAsync()).GetProperty("round").GetInt32());
    }

    [Fact]
    public async Task Forms_need_the_csrf_token()
    {
        await using var server = await RunningServer.StartAsync(Config());
        using var noToken = await server.Client.PostAsync("/join", new FormUrlEncodedContent(new Dictionary<string, string> { ["consent"] = "yes" }));
        Assert.Equal(HttpStatusCode.BadRequest, noToken.StatusCode);

        // With the page's token and cookie the form works and redirects to the participant's page.
        var handler = new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = new CookieContainer() };
        using var browser = new HttpClient(handler) { BaseAddress = server.Address };
        var page = await browser.GetStringAsync("/?PROLIFIC_PID=abc123&STUDY_ID=s9&SESSION_ID=z1");
        var token = Regex.Match(page, "name=\"__RequestVerificationToken\" value=\"([^\"]+)\"").Groups[1].Value;
        Assert.NotEmpty(token);
        var fields = new Dictionary<string, string> { ["__RequestVerificationToken"] = token, ["consent"] = "yes", ["prolific_pid"] = "abc123", ["study_id"] = "s9", ["session_id"] = "z1" };
        using var joined = await browser.PostAsync("/join", new FormUrlEncodedContent(fields));
        Assert.Equal(HttpStatusCode.Redirect, joined.StatusCode);
        Assert.StartsWith("/p/", joined.Headers.Location!.OriginalString, StringComparison.Ordinal);

        // A forged token is refused too.
        fields["__RequestVerificationToken"] = token[..^4] + "AAAA";
        using var forged = await browser.PostAsync("/join", new FormUrlEncodedContent(fields));
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);

        // The rating form needs it as well.
        using var rate = await server.Client.PostAsync($"{joined.Headers.Location!.OriginalString}/rate", new FormUrlEncodedContent(new Dictionary<string, string> { ["round"] = "1", ["rating"] = "5" }));
        Assert.Equal(HttpStatusCode.BadRequest, rate.StatusCode);
    }

    [Fact]
    public async Task Joins_are_rate_limited_and_platform_ids_validated()
    {
        await using var server = await RunningServer.StartAsync(Config(joinLimit: 3));
        using var bad = await server.Client.PostAsJsonAsync("/api/participants", new { consent = true, prolific_pid = "<script>alert(1)</script>" });
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        using var b = await server.Client.PostAsJsonAsync("/api/participants", new { consent = true });
        using var c = await server.Client.PostAsJsonAsync("/api/participants", new { consent = true });
        Assert.Equal(HttpStatusCode.Created, c.StatusCode);
        using var limited = await server.Client.PostAsJsonAsync("/api/participants", new { consent = true });
        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        var wait = limited.Headers.RetryAfter!.Delta!.Value.TotalSeconds;
        Assert.InRange(wait, 1, 60);
        var error = (await limited.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetString();
        Assert.Equal($"too many joins from this address: at most 3 a minute; try again in {wait} s", error);
        Assert.Equal(2, (await server.Store.ProgressAsync(default)).Sum(r => r.Joined));

        // The consent form's join counts against the same limit, and says so as a page.
        using var form = await server.Client.PostAsync("/join", new FormUrlEncodedContent(new Dictionary<string, string> { ["consent"] = "yes" }));
        Assert.Equal(HttpStatusCode.TooManyRequests, form.StatusCode);
        Assert.Equal("text/html", form.Content.Headers.ContentType!.MediaType);
        Assert.NotNull(form.Headers.RetryAfter);
        Assert.Equal(2, (await server.Store.ProgressAsync(default)).Sum(r => r.Joined));
    }

    [Fact]
    public async Task Behind_a_proxy_on_this_machine_the_join_limit_is_per_forwarded_client_address()
    {
        await using var server = await RunningServer.StartAsync(Config(joinLimit: 1));
        async Task<HttpStatusCode> JoinFrom(string? forwardedFor)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/participants") { Content = JsonContent.Create(new { consent = true }) };
            if (forwardedFor is not null)
            {
                request.Headers.Add("X-Forwarded-For", forwardedFor);
            }

            using var response = await server.Client.SendAsync(request);
            return response.StatusCode;
        }

        Assert.Equal(HttpStatusCode.Created, await JoinFrom("203.0.113.5"));
        Assert.Equal(HttpStatusCode.TooManyRequests, await JoinFrom("203.0.113.5"));
        Assert.Equal(HttpStatusCode.Created, await JoinFrom("203.0.113.6"));

        // A client's own entry comes first; the proxy appends the address it saw, and that one counts.
        Assert.Equal(HttpStatusCode.TooManyRequests, await JoinFrom("198.51.100.1, 203.0.113.5"));

        // IPv6: one /64 is one client (who could otherwise take a fresh address for every join).
        Assert.Equal(HttpStatusCode.Created, await JoinFrom("2001:db8:1:2::1"));
        Assert.Equal(HttpStatusCode.TooManyRequests, await JoinFrom("2001:db8:1:2:ffff::99"));
        Assert.Equal(HttpStatusCode.Created, await JoinFrom("2001:db8:1:3::1"));

        // The proxy's own address (no header) is a client of its own.
        Assert.Equal(HttpStatusCode.Created, await JoinFrom(null));
        Assert.Equal(5, (await server.Store.ProgressAsync(default)).Sum(r => r.Joined));
    }

    [Theory]
    [InlineData("192.0.2.7", "192.0.2.7")]
    [InlineData("::ffff:192.0.2.7", "192.0.2.7")]
    [InlineData("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64")]
    [InlineData(null, "unknown")]
    public void The_join_limit_counts_ipv4_addresses_and_ipv6_prefixes(string? address, string key) =>
        Assert.Equal(key, StudyServer.JoinLimitKey(address is null ? null : IPAddress.Parse(address)));

    [Fact]
    public async Task A_full_study_refuses_new_participants()
    {
        await using var server = await RunningServer.StartAsync(TestEnvironment.Demo(c => c.Conditions = [new ConditionConfig { Name = "blocked", Slots = 2 }]));
        await ApiParticipant.JoinAsync(server.Client);
        await ApiParticipant.JoinAsync(server.Client);
        using var full = await server.Client.PostAsJsonAsync("/api/participants", new { consent = true });
        Assert.Equal(HttpStatusCode.Conflict, full.StatusCode);
    }

    [Fact]
    public async Task Concurrent_joins_never_overbook_and_a_restarted_server_counts_the_stored_participants()
    {
        var dir = TestEnvironment.TempDir();
        var db = "sqlite:" + Path.Combine(dir, "study.db");
        var config = TestEnvironment.Demo(c => c.Conditions =
            [new ConditionConfig { Name = "blocked", Slots = 7 }, new ConditionConfig { Name = "cyclic", Slots = 5 }]);
        config.JoinRateLimitPerMinute = 1000;
        await using (var server = await RunningServer.StartAsync(config, db))
        {
            var replies = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => server.Client.PostAsJsonAsync("/api/participants", new { consent = true })));
            Assert.All(replies, r => Assert.Equal(HttpStatusCode.Created, r.StatusCode));
            foreach (var r in replies)
            {
                r.Dispose();
            }
        }

        // A new process on the same database: the counts come from the stored participants.
        await using (var again = await RunningServer.StartAsync(config, db))
        {
            var replies = await Task.WhenAll(Enumerable.Range(0, 30).Select(_ => again.Client.PostAsJsonAsync("/api/participants", new { consent = true })));
            Assert.Equal(4, replies.Count(r => r.StatusCode == HttpStatusCode.Created));
            Assert.Equal(26, replies.Count(r => r.StatusCode == HttpStatusCode.Conflict));
            foreach (var r in replies)
            {
                r.Dispose();
            }

            using var export = await again.Client.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/api/admin/progress")
            {
                Headers = { Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", RunningServer.AdminToken) },
            });
            var progress = System.Text.Json.JsonDocument.Parse(await export.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal(12, progress.GetProperty("joined").GetInt32());
            Assert.All(progress.GetProperty("conditions").EnumerateArray(),
                c => Assert.Equal(c.GetProperty("slots").GetInt32(), c.GetProperty("joined").GetInt32()));
        }
    }

    [Fact]
    public async Task Platform_ids_that_are_not_strings_and_answers_to_no_question_are_refused()
    {
        await using var server = await RunningServer.StartAsync(Config());
        using (var numeric = await server.Client.PostAsJsonAsync("/api/participants", new { consent = true, prolific_pid = 12345 }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, numeric.StatusCode); // it was accepted, and the id dropped
        }

        var p = await ApiParticipant.JoinAsync(server.Client);
        for (var r = 1; r <= Config().Rounds; r++)
        {
            await p.RateCurrentAsync(5);
        }

        foreach (var answers in new object[] { new { overall = "7", zzz = "x" }, new { overall = new { nested = 1 } }, new { comments = new[] { "a" } } })
        {
            using var refused = await server.Client.PostAsJsonAsync($"/api/participants/{p.Token}/questionnaire", new { answers });
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.DoesNotContain("completion", await refused.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        }

        using var answered = await server.Client.PostAsJsonAsync($"/api/participants/{p.Token}/questionnaire", new { answers = new { overall = "7", comments = "fine" } });
        Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
    }
}
