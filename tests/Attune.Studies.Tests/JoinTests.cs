using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Attune.Studies;
using Microsoft.Data.Sqlite;

namespace Attune.Studies.Tests;

/// <summary>
/// Joining: the JSON API takes only <c>application/json</c> (a cross-site page cannot send it
/// without the browser asking first), needs a JSON object with <c>"consent": true</c> when the
/// study has a consent text, and records when consent was given, as the consent form does.
/// </summary>
public class JoinTests
{
    private static StudyConfig Config(Action<StudyConfig>? change = null) => TestEnvironment.Demo(c =>
    {
        c.Conditions = [new ConditionConfig { Name = "cyclic", Slots = 50 }];
        c.JoinRateLimitPerMinute = 1000;
        change?.Invoke(c);
    });

    /// <summary>A body of exactly these bytes with exactly this Content-Type header (none when null).</summary>
    private static ByteArrayContent Body(string? text, string? contentType)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(text ?? ""));
        if (contentType is not null)
        {
            content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }

        return content;
    }

    private static async Task<int> JoinedAsync(RunningServer server) => (await server.Store.ProgressAsync(default)).Sum(r => r.Joined);

    private static async Task<string> ErrorOf(HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetString()!;

    [Theory]
    [InlineData("", "application/x-www-form-urlencoded")] // <form method=post> with no fields: the issue's case
    [InlineData("consent=true&prolific_pid=abc", "application/x-www-form-urlencoded")]
    [InlineData("--b\r\nContent-Disposition: form-data; name=\"consent\"\r\n\r\ntrue\r\n--b--\r\n", "multipart/form-data; boundary=b")]
    [InlineData("{\"consent\": true}", "text/plain")] // a cross-site form with enctype=text/plain can send this body
    [InlineData("{\"consent\": true}", "text/plain; charset=utf-8")]
    [InlineData("{\"consent\": true}", null)]
    [InlineData(null, null)]
    [InlineData("{\"consent\": true}", "application/json-patch+json")]
    [InlineData("{\"consent\": true}", "application/jsonp")]
    [InlineData("{\"consent\": true}", "application/json; charset=utf-16")]
    public async Task A_join_that_is_not_json_is_415_and_enrols_nobody(string? body, string? contentType)
    {
        await using var server = await RunningServer.StartAsync(Config());
        using var response = await server.Client.PostAsync("/api/participants", Body(body, contentType));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal("Content-Type must be application/json", await ErrorOf(response));
        Assert.Equal(0, await JoinedAsync(server));
    }

    [Theory]
    [InlineData("", "a JSON body is required")]
    [InlineData("{\"consent\": tru", "malformed JSON")]
    [InlineData("[{\"consent\": true}]", "the body must be a JSON object")]
    [InlineData("null", "the body must be a JSON object")]
    [InlineData("{}", "consent is required to take part")]
    [InlineData("{\"prolific_pid\": \"abc\"}", "consent is required to take part")]
    [InlineData("{\"consent\": false}", "consent is required to take part")]
    [InlineData("{\"consent\": null}", "consent is required to take part")]
    [InlineData("{\"consent\": \"yes\"}", "consent must be true or false")]
    [InlineData("{\"consent\": 1}", "consent must be true or false")]
    public async Task A_json_join_without_a_body_or_without_consent_is_400_and_enrols_nobody(string body, string error)
    {
        await using var server = await RunningServer.StartAsync(Config());
        using var response = await server.Client.PostAsync("/api/participants", Body(body, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.StartsWith(error, await ErrorOf(response), StringComparison.Ordinal);
        Assert.Equal(0, await JoinedAsync(server));
    }

    [Fact]
    public async Task A_json_join_with_consent_is_stored_with_its_time_and_exported()
    {
        var dir = TestEnvironment.TempDir();
        var path = Path.Combine(dir, "study.db");
        var config = Config();
        var before = DateTimeOffset.UtcNow;
        string[] tokens;
        await using (var server = await RunningServer.StartAsync(config, "sqlite:" + path))
        {
            // As a browser's fetch sends it (no charset), and as HttpClient's JSON helpers do (charset=utf-8).
            using var plain = await server.Client.PostAsync("/api/participants", Body("{\"consent\": true, \"prolific_pid\": \"c1\"}", "application/json"));
            using var utf8 = await server.Client.PostAsync("/api/participants", Body("{\"consent\": true, \"prolific_pid\": \"c2\"}", "Application/JSON; charset=UTF-8"));
            Assert.Equal((HttpStatusCode.Created, HttpStatusCode.Created), (plain.StatusCode, utf8.StatusCode));
            tokens = [.. await Task.WhenAll(new[] { plain, utf8 }.Select(async r => (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!))];
            var p = new ApiParticipant(server.Client, tokens[0], "cyclic");
            await p.RateCurrentAsync(6);
        }

        var after = DateTimeOffset.UtcNow;

        // Read back from the database file itself, and through a store opened afresh.
        await using (var conn = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString()))
        {
            await conn.OpenAsync();
            await using var cmd = new SqliteCommand("SELECT prolific_pid, consented_at FROM participants ORDER BY prolific_pid", conn);
            await using var r = await cmd.ExecuteReaderAsync();
            foreach (var pid in (string[])["c1", "c2"])
            {
                Assert.True(await r.ReadAsync());
                Assert.Equal(pid, r.GetString(0));
                Assert.InRange(DateTimeOffset.Parse(r.GetString(1), System.Globalization.CultureInfo.InvariantCulture), before, after);
            }
        }

        await using (var store = await StudyStore.OpenAsync("sqlite:" + path))
        {
            var loaded = (await store.LoadAsync(tokens[1], default))!.Value.Participant;
            Assert.InRange(loaded.ConsentedAt!.Value, before, after);
            var row = Assert.Single(await store.ExportAsync(default));
            Assert.InRange(row.ConsentedAt!.Value, before, after);
            var csv = StudyExport.Csv([row]).Split('\n');
            Assert.EndsWith(",submitted_at,consented_at", csv[0], StringComparison.Ordinal);
            Assert.EndsWith(row.ConsentedAt.Value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", System.Globalization.CultureInfo.InvariantCulture), csv[1], StringComparison.Ordinal);
        }

        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public async Task The_consent_form_records_consent_the_same_way_and_refuses_without_it()
    {
        await using var server = await RunningServer.StartAsync(Config());
        var handler = new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = new CookieContainer() };
        using var browser = new HttpClient(handler) { BaseAddress = server.Address };
        var page = await browser.GetStringAsync("/");
        var csrf = Regex.Match(page, "name=\"__RequestVerificationToken\" value=\"([^\"]+)\"").Groups[1].Value;

        using var unticked = await browser.PostAsync("/join", new FormUrlEncodedContent(new Dictionary<string, string> { ["__RequestVerificationToken"] = csrf }));
        Assert.Equal(HttpStatusCode.BadRequest, unticked.StatusCode);
        Assert.Equal(0, await JoinedAsync(server));

        var before = DateTimeOffset.UtcNow;
        using var joined = await browser.PostAsync("/join", new FormUrlEncodedContent(new Dictionary<string, string> { ["__RequestVerificationToken"] = csrf, ["consent"] = "yes" }));
        Assert.Equal(HttpStatusCode.Redirect, joined.StatusCode);
        var token = joined.Headers.Location!.OriginalString["/p/".Length..];
        var participant = (await server.Store.LoadAsync(token, default))!.Value.Participant;
        Assert.InRange(participant.ConsentedAt!.Value, before, DateTimeOffset.UtcNow);
    }

    [Fact]
    public async Task A_study_without_consent_text_takes_an_empty_object_and_records_consent_only_when_given()
    {
        await using var server = await RunningServer.StartAsync(Config(c => c.Consent = " "));
        using var bare = await server.Client.PostAsync("/api/participants", Body("{}", "application/json"));
        using var given = await server.Client.PostAsync("/api/participants", Body("{\"consent\": true}", "application/json"));
        using var declined = await server.Client.PostAsync("/api/participants", Body("{\"consent\": false}", "application/json"));
        using var form = await server.Client.PostAsync("/api/participants", Body("", "application/x-www-form-urlencoded"));
        Assert.Equal(
            (HttpStatusCode.Created, HttpStatusCode.Created, HttpStatusCode.BadRequest, HttpStatusCode.UnsupportedMediaType),
            (bare.StatusCode, given.StatusCode, declined.StatusCode, form.StatusCode));
        async Task<DateTimeOffset?> ConsentOf(HttpResponseMessage r) =>
            (await server.Store.LoadAsync((await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!, default))!.Value.Participant.ConsentedAt;
        Assert.Null(await ConsentOf(bare));
        Assert.NotNull(await ConsentOf(given));
        Assert.Equal(2, await JoinedAsync(server));
    }

    [Fact]
    public async Task Ratings_and_questionnaires_take_only_json_too()
    {
        await using var server = await RunningServer.StartAsync(Config());
        var p = await ApiParticipant.JoinAsync(server.Client);
        var item = (await p.NextAsync()).GetProperty("item").GetProperty("id").GetString();
        var rating = JsonSerializer.Serialize(new { round = 1, item_id = item, rating = 5 });
        foreach (var (path, body, type) in new (string, string?, string?)[]
        {
            ("ratings", rating, "text/plain"),
            ("ratings", rating, null),
            ("ratings", null, null),
            ("ratings", "round=1&rating=5", "application/x-www-form-urlencoded"),
            ("questionnaire", "{\"answers\": {}}", "text/plain"),
            ("questionnaire", "", "application/x-www-form-urlencoded"),
        })
        {
            using var response = await server.Client.PostAsync($"/api/participants/{p.Token}/{path}", Body(body, type));
            Assert.True(response.StatusCode == HttpStatusCode.UnsupportedMediaType, $"{path} with {type ?? "no Content-Type"}: {response.StatusCode}");
        }

        using (var empty = await server.Client.PostAsync($"/api/participants/{p.Token}/ratings", Body("", "application/json")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
        }

        Assert.Empty(await server.Store.ExportAsync(default));
        using var ok = await server.Client.PostAsync($"/api/participants/{p.Token}/ratings", Body(rating, "application/json"));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Single(await server.Store.ExportAsync(default));
    }
}
