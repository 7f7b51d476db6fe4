using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using System.Threading.RateLimiting;
using Attune.Bandits;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;

namespace Attune.Studies;

/// <summary>Options of one server.</summary>
public sealed class StudyServerOptions
{
    public required StudyConfig Config { get; init; }

    public required StudyStore Store { get; init; }

    /// <summary>Addresses to listen on, e.g. <c>http://127.0.0.1:5080</c>; port 0 picks a free one.</summary>
    public string Urls { get; init; } = "http://127.0.0.1:5080";

    /// <summary>The admin token; null or empty disables the admin endpoints (every call is 401).</summary>
    public string? AdminToken { get; init; }

    public LogLevel LogLevel { get; init; } = LogLevel.Warning;
}

/// <summary>
/// The study web server: the JSON API (<c>/api/participants…</c>, <c>/api/admin…</c>) and plain
/// HTML pages with forms (consent, one item per round, arm buttons, questionnaire, completion)
/// on top of the same logic, with a small script that uses the JSON API where JavaScript runs.
/// </summary>
public static partial class StudyServer
{
    private const string JoinPolicy = "join";

    public static WebApplication Build(StudyServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var config = options.Config;

        var builder = WebApplication.CreateSlimBuilder();
        // Logs go to stderr, never stdout (which carries a command's --json document).
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(options.LogLevel);
        // A failed start (a port in use) is thrown to the caller, which reports it in one line; the
        // host's own log of it would repeat it as a stack trace.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
        builder.Logging.AddFilter("Microsoft.AspNetCore.DataProtection", LogLevel.Error);
        builder.Logging.AddFilter("Microsoft.AspNetCore.Antiforgery", LogLevel.Error);
        builder.WebHost.UseUrls(options.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries));
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = config.MaxBodyBytes;
            k.AddServerHeader = false;
        });
        builder.Services.AddAntiforgery(o => o.Cookie.Name = "attune-csrf");

        // Joins per client address and minute (fixed window): one client must not enrol participants
        // by the thousand, which would fill the conditions' slots and skew their balance and the data.
        var joinLimit = Math.Max(1, config.JoinRateLimitPerMinute);
        builder.Services.AddRateLimiter(r =>
        {
            r.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            r.AddPolicy(JoinPolicy, http => RateLimitPartition.GetFixedWindowLimiter(
                JoinLimitKey(http.Connection.RemoteIpAddress),
                _ => new FixedWindowRateLimiterOptions { PermitLimit = joinLimit, Window = TimeSpan.FromMinutes(1), QueueLimit = 0 }));
            r.OnRejected = async (context, ct) =>
            {
                var http = context.HttpContext;
                var wait = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)) : 60;
                http.Response.Headers.RetryAfter = wait.ToString(CultureInfo.InvariantCulture);
                var message = $"too many joins from this address: at most {joinLimit} a minute; try again in {wait} s";
                await (http.Request.Path.StartsWithSegments("/api", StringComparison.Ordinal)
                    ? Error(StatusCodes.Status429TooManyRequests, message)
                    : Page("Too many joins", $"<h1>Please wait a minute</h1><p>{H(message)}.</p>", StatusCodes.Status429TooManyRequests)).ExecuteAsync(http);
            };
        });

        var app = builder.Build();
        var engine = new StudyEngine(config);
        var store = options.Store;
        var cache = new ParticipantCache(store);

        // A busy database (no free connection after a bounded wait, see StudyStore) is 503 with
        // Retry-After, so participants' pages and clients try again instead of seeing an error.
        app.Use(async (http, next) =>
        {
            try
            {
                await next(http);
            }
            catch (Exception ex) when (StoreBusyException.Find(ex) is { } busy && !http.Response.HasStarted)
            {
                http.Response.Clear();
                http.Response.Headers.RetryAfter = StoreBusyException.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
                var message = $"the study is busy; try again in {StoreBusyException.RetryAfterSeconds} s ({busy.Message})";
                await (http.Request.Path.StartsWithSegments("/api", StringComparison.Ordinal)
                    ? Error(StatusCodes.Status503ServiceUnavailable, message)
                    : Page("Busy", $"<h1>Please try again in a moment</h1><p>{H(message)}.</p>", StatusCodes.Status503ServiceUnavailable)).ExecuteAsync(http);
            }
        });

        // Oversized bodies: refuse on the declared length before reading anything.
        app.Use(async (http, next) =>
        {
            if (http.Request.ContentLength > config.MaxBodyBytes)
            {
                http.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
                await http.Response.WriteAsJsonAsync(new { error = $"body larger than {config.MaxBodyBytes} bytes" });
                return;
            }

            http.Response.Headers["X-Content-Type-Options"] = "nosniff";
            http.Response.Headers["Referrer-Policy"] = "no-referrer";
            http.Response.Headers["Cache-Control"] = "no-store";
            await next(http);
        });

        // Behind a reverse proxy on this machine (the way to serve a study over TLS), the client's
        // address is the one the proxy appends to X-Forwarded-For; the header is honoured only from
        // a loopback peer (ASP.NET Core's default known proxies), so a remote client cannot set it.
        app.UseForwardedHeaders(new ForwardedHeadersOptions { ForwardedHeaders = ForwardedHeaders.XForwardedFor });
        app.UseRateLimiter();
        app.MapGet("/healthz", () => Results.Text("ok"));

        // ---- JSON API ----
        app.MapPost("/api/participants", async (HttpContext http, CancellationToken ct) =>
        {
            var (body, error) = await ReadJsonAsync(http, ct);
            if (error is not null)
            {
                return error;
            }

            // Consent as the consent page asks for it: "consent": true, required when the study has a consent text.
            var consent = body!["consent"];
            if (consent is not null && (consent is not JsonValue v || !v.TryGetValue<bool>(out _)))
            {
                return Error(400, "consent must be true or false (a JSON boolean)");
            }

            var consented = consent is JsonValue given && given.GetValue<bool>();
            if (!consented && (consent is not null || ConsentRequired(config)))
            {
                return Error(400, "consent is required to take part: send \"consent\": true once the participant has agreed to the study's consent text");
            }

            var ids = new PlatformIds(Id(body, "prolific_pid"), Id(body, "study_id"), Id(body, "session_id"), Id(body, "worker_id"), Id(body, "assignment_id"), Id(body, "hit_id"));
            if (ids is { ProlificPid: "!", } || ids.StudyId == "!" || ids.SessionId == "!" || ids.WorkerId == "!" || ids.AssignmentId == "!" || ids.HitId == "!")
            {
                return Error(400, "platform ids must be 1 to 64 letters, digits, '-' or '_'");
            }

            return await JoinAsync(ids, consented ? DateTimeOffset.UtcNow : null, ct) is { } joined
                ? Results.Json(new { token = joined.Token, condition = joined.Participant.Condition, participant = joined.Participant.Id }, statusCode: 201)
                : Error(409, "the study is full");
        }).RequireRateLimiting(JoinPolicy);

        app.MapGet("/api/participants/{token}/next", async (string token, CancellationToken ct) =>
        {
            return await cache.WithAsync(token, st => Task.FromResult(
                st is null ? Error(404, "unknown participant token") : View(st.View(engine))), ct);
        });

        app.MapPost("/api/participants/{token}/ratings", async (string token, HttpContext http, CancellationToken ct) =>
        {
            var (body, error) = await ReadJsonAsync(http, ct);
            if (error is not null)
            {
                return error;
            }

            var round = Int(body, "round");
            var rating = Int(body, "rating");
            var item = Str(body, "item_id");
            var arm = Str(body, "arm");
            var (status, message, view) = await SubmitAsync(token, round, item, rating, arm, ct);
            return view is not null ? View(view) : Error(status, message!);
        });

        app.MapPost("/api/participants/{token}/questionnaire", async (string token, HttpContext http, CancellationToken ct) =>
        {
            var (body, error) = await ReadJsonAsync(http, ct);
            if (error is not null)
            {
                return error;
            }

            var answers = body?["answers"] as JsonObject;
            var (status, message, view) = await AnswerAsync(token, answers, ct);
            return view is not null ? View(view) : Error(status, message!);
        });

        app.MapGet("/api/admin/export", async (HttpContext http, string? format, CancellationToken ct) =>
        {
            if (!Authorized(http, options.AdminToken))
            {
                return Unauthorized();
            }

            format ??= "csv";
            if (format is not ("csv" or "jsonl"))
            {
                return Error(400, "format must be csv or jsonl");
            }

            var rows = await store.ExportAsync(ct);
            return format == "csv"
                ? Results.Text(StudyExport.Csv(rows), "text/csv; charset=utf-8")
                : Results.Text(StudyExport.JsonLines(rows), "application/x-ndjson; charset=utf-8");
        });

        app.MapGet("/api/admin/progress", async (HttpContext http, CancellationToken ct) =>
        {
            if (!Authorized(http, options.AdminToken))
            {
                return Unauthorized();
            }

            var rows = await store.ProgressAsync(ct);
            return Results.Json(new
            {
                study = config.Id,
                conditions = config.Conditions.Select(c =>
                {
                    var row = rows.FirstOrDefault(r => r.Condition == c.Name);
                    return new { name = c.Name, slots = c.Slots, joined = row.Joined, completed = row.Completed, ratings = row.Ratings };
                }),
                joined = rows.Sum(r => r.Joined),
                completed = rows.Sum(r => r.Completed),
                ratings = rows.Sum(r => r.Ratings),
            });
        });

        // ---- HTML pages ----
        app.MapGet("/", (HttpContext http, IAntiforgery af) =>
        {
            var tokens = af.GetAndStoreTokens(http);
            var q = http.Request.Query;
            var hidden = new StringBuilder();
            foreach (var (field, names) in PlatformParameters)
            {
                var value = names.Select(n => q[n].ToString()).FirstOrDefault(v => !string.IsNullOrEmpty(v));
                if (value is not null && IsPlatformId(value))
                {
                    hidden.Append(CultureInfo.InvariantCulture, $"<input type=\"hidden\" name=\"{field}\" value=\"{H(value)}\">");
                }
            }

            return Page(config.Title, $"""
                <h1>{H(config.Title)}</h1>
                <div class="consent">{Paragraphs(config.Consent)}</div>
                <form method="post" action="/join">
                  <input type="hidden" name="{H(tokens.FormFieldName)}" value="{H(tokens.RequestToken!)}">
                  {hidden}
                  <label><input type="checkbox" name="consent" value="yes" required id="consent"> I have read the above and agree to take part.</label>
                  <p><button type="submit" id="start">Start</button></p>
                </form>
                """);
        });

        app.MapPost("/join", async (HttpContext http, IAntiforgery af, CancellationToken ct) =>
        {
            if (!await ValidCsrfAsync(http, af))
            {
                return Error(400, "missing or invalid CSRF token");
            }

            var form = await http.Request.ReadFormAsync(ct);
            if (form["consent"] != "yes")
            {
                return Error(400, "consent is required to take part");
            }

            string? F(string name) => string.IsNullOrEmpty(form[name]) ? null : IsPlatformId(form[name]!) ? form[name].ToString() : "!";
            var ids = new PlatformIds(F("prolific_pid"), F("study_id"), F("session_id"), F("worker_id"), F("assignment_id"), F("hit_id"));
            if (new[] { ids.ProlificPid, ids.StudyId, ids.SessionId, ids.WorkerId, ids.AssignmentId, ids.HitId }.Contains("!"))
            {
                return Error(400, "platform ids must be 1 to 64 letters, digits, '-' or '_'");
            }

            var joined = await JoinAsync(ids, DateTimeOffset.UtcNow, ct);
            return joined is null ? Page("Study full", "<h1>Sorry, the study is full.</h1>", 409) : Results.Redirect($"/p/{joined.Value.Token}", permanent: false, preserveMethod: false);
        }).RequireRateLimiting(JoinPolicy);

        app.MapGet("/p/{token}", async (string token, HttpContext http, IAntiforgery af, CancellationToken ct) =>
        {
            var view = await cache.WithAsync(token, st => Task.FromResult(st?.View(engine)), ct);
            if (view is null)
            {
                return Page("Not found", "<h1>Unknown link</h1>", 404);
            }

            return Page(config.Title, RenderStage(config, view, token, af.GetAndStoreTokens(http)));
        });

        app.MapPost("/p/{token}/rate", async (string token, HttpContext http, IAntiforgery af, CancellationToken ct) =>
        {
            if (!await ValidCsrfAsync(http, af))
            {
                return Error(400, "missing or invalid CSRF token");
            }

            var form = await http.Request.ReadFormAsync(ct);
            int? FormInt(string n) => int.TryParse(form[n], NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null;
            var (status, message, view) = await SubmitAsync(token, FormInt("round"), form["item_id"].ToString() is { Length: > 0 } i ? i : null,
                FormInt("rating"), form["arm"].ToString() is { Length: > 0 } a ? a : null, ct);
            return view is not null || status == 404 ? Results.Redirect($"/p/{token}") : Page("Error", $"<h1>{H(message!)}</h1><p><a href=\"/p/{token}\">Continue</a></p>", status);
        });

        app.MapPost("/p/{token}/questionnaire", async (string token, HttpContext http, IAntiforgery af, CancellationToken ct) =>
        {
            if (!await ValidCsrfAsync(http, af))
            {
                return Error(400, "missing or invalid CSRF token");
            }

            var form = await http.Request.ReadFormAsync(ct);
            var answers = new JsonObject();
            foreach (var q in config.Questionnaire)
            {
                answers[q.Id] = form[$"q_{q.Id}"].ToString();
            }

            var (status, message, view) = await AnswerAsync(token, answers, ct);
            return view is not null ? Results.Redirect($"/p/{token}") : Page("Error", $"<h1>{H(message!)}</h1>", status);
        });

        app.MapGet("/static/study.js", () => Results.Text(Script, "text/javascript; charset=utf-8"));
        return app;

        async Task<(string Token, ParticipantRecord Participant)?> JoinAsync(PlatformIds ids, DateTimeOffset? consentedAt, CancellationToken ct)
        {
            var token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
            var participant = await store.CreateParticipantAsync(config, token, ids, consentedAt, ct);
            if (participant is null)
            {
                return null;
            }

            // A new participant has no ratings or choices: start their cached state now rather than
            // reading the three empty queries back on their first request.
            cache.Add(token, new ParticipantState(participant, [], []));
            return (token, participant);
        }

        Task<(int Status, string? Message, NextView? View)> SubmitAsync(string token, int? round, string? itemId, int? rating, string? arm, CancellationToken ct) =>
            cache.WithAsync(token, st => SubmitLockedAsync(st, round, itemId, rating, arm, ct), ct);

        async Task<(int Status, string? Message, NextView? View)> SubmitLockedAsync(ParticipantState? state, int? round, string? itemId, int? rating, string? arm, CancellationToken ct)
        {
            if (state is null)
            {
                return (404, "unknown participant token", null);
            }

            var (participant, ratings, choices) = (state.Participant, state.Ratings, state.Choices);
            if (round is null)
            {
                return (400, "round is required (an integer)", null);
            }

            var current = state.View(engine);
            var stored = ratings.FirstOrDefault(r => r.Round == round);
            if (stored is not null)
            {
                // A resubmitted round: the same answer is acknowledged again, a different one refused.
                return stored.ItemId == itemId && stored.Rating == rating
                    ? (200, null, current)
                    : (409, $"round {round} was already rated", null);
            }

            if (current.Round is null || round != current.Round)
            {
                return (409, current.Round is null ? "all rounds are rated" : $"round {round} is out of order: the current round is {current.Round}", null);
            }

            if (current.Stage == "choose" || (arm is not null && engine.IsSelfSelected(participant.Condition) && current.Item?.Arm != StudyEngine.AttentionArm))
            {
                if (!engine.IsSelfSelected(participant.Condition))
                {
                    return (400, "this condition does not choose arms", null);
                }

                if (arm is null || config.Arms.All(a => a.Id != arm))
                {
                    return (400, "choose one of the offered arms first (field 'arm')", null);
                }

                if (choices.TryGetValue(round.Value, out var chosen) && chosen != arm)
                {
                    return (409, $"round {round}: arm '{chosen}' was already chosen", null);
                }

                choices[round.Value] = await store.AddChoiceAsync(participant.Id, round.Value, arm, ct);
                current = state.View(engine);
                if (itemId is null && rating is null)
                {
                    return (200, null, current);
                }
            }
            else if (arm is not null && current.Item is not null && arm != current.Item.Arm)
            {
                return (400, $"arm '{arm}' is not this round's arm", null);
            }

            if (itemId is null || current.Item is null || itemId != current.Item.Id)
            {
                return (400, "item_id does not match the item shown in this round", null);
            }

            if (rating is null || rating < config.Scale.Min || rating > config.Scale.Max)
            {
                return (400, $"rating must be an integer from {config.Scale.Min} to {config.Scale.Max}", null);
            }

            var completes = round == config.Rounds && config.Questionnaire.Count == 0;
            var saved = await store.AddRatingAsync(participant.Id, new RatingRecord(round.Value, current.Item.Arm, itemId, rating.Value, DateTimeOffset.UtcNow), completes, ct);
            if (saved.ItemId != itemId || saved.Rating != rating)
            {
                return (409, $"round {round} was already rated", null);
            }

            ratings.Add(saved);
            return (200, null, state.View(engine));
        }

        Task<(int Status, string? Message, NextView? View)> AnswerAsync(string token, JsonObject? answers, CancellationToken ct) =>
            cache.WithAsync(token, st => AnswerLockedAsync(st, answers, ct), ct);

        async Task<(int Status, string? Message, NextView? View)> AnswerLockedAsync(ParticipantState? state, JsonObject? answers, CancellationToken ct)
        {
            if (state is null)
            {
                return (404, "unknown participant token", null);
            }

            var current = state.View(engine);
            if (current.Stage == "complete")
            {
                return (200, null, current);
            }

            if (current.Stage != "questionnaire")
            {
                return (409, "the questionnaire comes after the last round", null);
            }

            if (answers is null)
            {
                return (400, "answers (an object) is required", null);
            }

            // Only the questionnaire's own ids, each a string or a number: anything else would be
            // dropped without a word while the participant got the completion code.
            foreach (var (id, value) in answers)
            {
                if (!config.Questionnaire.Any(q => q.Id == id))
                {
                    return (400, $"answers: '{(id.Length > 64 ? id[..64] + "…" : id)}' is not a question of this study ({string.Join(", ", config.Questionnaire.Select(q => q.Id))})", null);
                }

                if (value is not null and not JsonValue)
                {
                    return (400, $"answer '{id}' must be a string or a number", null);
                }
            }

            var clean = new JsonObject();
            foreach (var q in config.Questionnaire)
            {
                var value = answers[q.Id]?.ToString() ?? "";
                if (value.Length > 2000)
                {
                    return (400, $"answer '{q.Id}' is longer than 2000 characters", null);
                }

                if (q.Type == "scale" && value.Length > 0 &&
                    (!int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) || v < config.Scale.Min || v > config.Scale.Max))
                {
                    return (400, $"answer '{q.Id}' must be from {config.Scale.Min} to {config.Scale.Max}", null);
                }

                clean[q.Id] = value;
            }

            var json = clean.ToJsonString();
            await store.SaveQuestionnaireAsync(state.Participant.Id, json, ct);
            state.Participant = state.Participant with { Questionnaire = json, CompletedAt = DateTimeOffset.UtcNow };
            return (200, null, state.View(engine));
        }
    }

    private static readonly (string Field, string[] Names)[] PlatformParameters =
    [
        ("prolific_pid", ["PROLIFIC_PID", "prolific_pid"]), ("study_id", ["STUDY_ID", "study_id"]), ("session_id", ["SESSION_ID", "session_id"]),
        ("worker_id", ["workerId", "worker_id"]), ("assignment_id", ["assignmentId", "assignment_id"]), ("hit_id", ["hitId", "hit_id"]),
    ];

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex PlatformIdPattern();

    private static bool IsPlatformId(string value) => PlatformIdPattern().IsMatch(value);

    private static async Task<bool> ValidCsrfAsync(HttpContext http, IAntiforgery af)
    {
        try
        {
            await af.ValidateRequestAsync(http);
            return true;
        }
        catch (AntiforgeryValidationException)
        {
            return false;
        }
    }

    private static bool Authorized(HttpContext http, string? adminToken)
    {
        if (string.IsNullOrEmpty(adminToken))
        {
            return false;
        }

        var header = http.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var given = Encoding.UTF8.GetBytes(header["Bearer ".Length..].Trim());
        var expected = Encoding.UTF8.GetBytes(adminToken);
        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(given), SHA256.HashData(expected));
    }

    private static IResult Unauthorized() =>
        Results.Json(new { error = "admin endpoints need 'Authorization: Bearer <admin token>'" }, statusCode: 401);

    private static IResult Error(int status, string message) => Results.Json(new { error = message }, statusCode: status);

    /// <summary>
    /// A participant's next step as JSON: serialised up front by the source-generated serializer and
    /// written with a Content-Length in one write (Results.Json streams it with chunked framing, and
    /// Results.Bytes runs the file-result machinery: ranges, ETags).
    /// </summary>
    private static IResult View(NextView view) => new Utf8JsonResult(JsonSerializer.SerializeToUtf8Bytes(view, StudyJson.Default.NextView));

    private sealed class Utf8JsonResult(byte[] body) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            var response = httpContext.Response;
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = "application/json; charset=utf-8";
            response.ContentLength = body.Length;
            return response.Body.WriteAsync(body).AsTask();
        }
    }

    /// <summary>
    /// Reads a JSON object body. The Content-Type must be <c>application/json</c> (charset, if
    /// named, UTF-8), whatever the body: a cross-site page can post a form
    /// (<c>application/x-www-form-urlencoded</c>, <c>multipart/form-data</c>) or <c>text/plain</c>
    /// without the browser asking this server first, but not JSON, so the JSON API is out of such a
    /// page's reach (415). A missing, empty or malformed body, or one that is not an object, is 400.
    /// </summary>
    private static readonly JsonDocumentOptions NoDuplicateKeys = new() { AllowDuplicateProperties = false };

    private static async Task<(JsonObject? Body, IResult? Error)> ReadJsonAsync(HttpContext http, CancellationToken ct)
    {
        if (!IsJson(http.Request.ContentType))
        {
            return (null, Error(415, "Content-Type must be application/json"));
        }

        var hasBody = http.Request.ContentLength > 0 || (http.Request.ContentLength is null && http.Request.Headers.TransferEncoding.Count > 0);
        if (!hasBody)
        {
            return (null, Error(400, "a JSON body is required"));
        }

        try
        {
            // A repeated key ({"rating":5,"rating":9}) is refused while parsing: which one counts would be a guess.
            var node = await JsonNode.ParseAsync(http.Request.Body, documentOptions: NoDuplicateKeys, cancellationToken: ct);
            return node is JsonObject o ? (o, null) : (null, Error(400, "the body must be a JSON object"));
        }
        catch (JsonException ex)
        {
            return (null, Error(400, $"malformed JSON: {ex.Message.Split('\n')[0]}"));
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, Error(413, "body too large"));
        }
    }

    /// <summary><c>application/json</c>, with no charset or a UTF-8 one (the only encoding the parser reads).</summary>
    internal static bool IsJson(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var type)
        && type.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
        && (type.Charset.Length == 0 || type.Charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase) || type.Charset.Equals("utf8", StringComparison.OrdinalIgnoreCase));

    /// <summary>A study with a consent text asks every participant to agree to it before they join.</summary>
    private static bool ConsentRequired(StudyConfig config) => !string.IsNullOrWhiteSpace(config.Consent);

    /// <summary>
    /// The join limit's partition: an IPv4 address (IPv4-mapped IPv6 addresses as IPv4), or an IPv6
    /// address's /64 prefix, which one subscriber or host usually holds whole (per address, it
    /// could use a fresh address for every join).
    /// </summary>
    internal static string JoinLimitKey(IPAddress? address)
    {
        if (address is null)
        {
            return "unknown";
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }

        var bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new IPAddress(bytes) + "/64";
    }

    private static string? Str(JsonObject? body, string name) =>
        body?[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static int? Int(JsonObject? body, string name) =>
        body?[name] is JsonValue v && v.TryGetValue<int>(out var i) ? i
        : body?[name] is JsonValue w && w.TryGetValue<double>(out var d) && d == Math.Floor(d) && Math.Abs(d) < int.MaxValue ? (int)d : null;

    /// <summary>A platform id from the body: null when absent, "!" when malformed (also a number or any non-string).</summary>
    private static string? Id(JsonObject? body, string name)
    {
        if (body?[name] is null)
        {
            return null;
        }

        var value = Str(body, name);
        return value is null ? "!" : value.Length == 0 ? null : IsPlatformId(value) ? value : "!";
    }

    private static string H(string s) => WebUtility.HtmlEncode(s);

    private static string Paragraphs(string text) =>
        string.Concat(text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(p => $"<p>{H(p.Trim())}</p>"));

    private static string RenderStage(StudyConfig config, NextView view, string token, AntiforgeryTokenSet csrf)
    {
        var csrfField = $"<input type=\"hidden\" name=\"{H(csrf.FormFieldName)}\" value=\"{H(csrf.RequestToken!)}\">";
        var t = Uri.EscapeDataString(token);
        switch (view.Stage)
        {
            case "choose":
                var buttons = string.Concat(view.Choices!.Select(c => $"<button type=\"submit\" name=\"arm\" value=\"{H(c.Arm)}\" class=\"arm\">{H(c.Name)}</button> "));
                return $"""
                    <p class="progress">Round {view.Round} of {view.Rounds}</p>
                    <h2>What would you like to see next?</h2>
                    <form method="post" action="/p/{t}/rate" data-api="/api/participants/{t}/ratings">
                      {csrfField}<input type="hidden" name="round" value="{view.Round}">
                      {buttons}
                    </form>
                    """;
            case "rate":
                var item = view.Item!;
                var body = item.ImageUrl is not null ? $"<img src=\"{H(item.ImageUrl)}\" alt=\"{H(item.Title)}\">" : Paragraphs(item.Text ?? "");
                var mid = (config.Scale.Min + config.Scale.Max) / 2;
                return $"""
                    <p class="progress">Round {view.Round} of {view.Rounds}</p>
                    <article class="item"><h2>{H(item.Title)}</h2>{body}</article>
                    <form method="post" action="/p/{t}/rate" data-api="/api/participants/{t}/ratings">
                      {csrfField}
                      <input type="hidden" name="round" value="{view.Round}">
                      <input type="hidden" name="item_id" value="{H(item.Id)}">
                      <label for="rating">{H(config.Scale.Question)}</label>
                      <div class="scale"><span>{H(config.Scale.MinLabel)}</span>
                      <input type="range" id="rating" name="rating" min="{config.Scale.Min}" max="{config.Scale.Max}" step="1" value="{mid}">
                      <span>{H(config.Scale.MaxLabel)}</span> <output id="rating-value">{mid}</output></div>
                      <p><button type="submit" id="submit">Next</button></p>
                    </form>
                    """;
            case "questionnaire":
                var questions = string.Concat(view.Questionnaire!.Select(q => q.Type == "scale"
                    ? $"<p><label>{H(q.Text)}<br><input type=\"number\" name=\"q_{H(q.Id)}\" min=\"{config.Scale.Min}\" max=\"{config.Scale.Max}\"></label></p>"
                    : $"<p><label>{H(q.Text)}<br><textarea name=\"q_{H(q.Id)}\" maxlength=\"2000\" rows=\"3\" cols=\"60\"></textarea></label></p>"));
                return $"""
                    <h2>A few last questions</h2>
                    <form method="post" action="/p/{t}/questionnaire">{csrfField}{questions}<p><button type="submit" id="finish">Finish</button></p></form>
                    """;
            default:
                var link = view.CompletionUrl is { } url ? $"<p><a id=\"return\" href=\"{H(url)}\">Return to the recruitment site</a></p>" : "";
                return $"""
                    <h1>Thank you!</h1>
                    <p>Your completion code is <strong id="completion-code">{H(view.CompletionCode ?? "")}</strong>.</p>{link}
                    """;
        }
    }

    private static IResult Page(string title, string body, int status = 200) => Results.Content($$"""
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{H(title)}}</title>
        <style>body{font-family:sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;line-height:1.5}
        .scale{display:flex;gap:.5rem;align-items:center} input[type=range]{flex:1} button{font-size:1rem;padding:.4rem 1rem}
        .item{border:1px solid #ccc;border-radius:6px;padding:0 1rem;margin:1rem 0} img{max-width:100%}</style>
        </head><body>
        {{body}}
        <script src="/static/study.js" defer></script>
        </body></html>
        """, "text/html; charset=utf-8", Encoding.UTF8, status);

    /// <summary>
    /// Progressive enhancement: shows the slider's value, and submits the round through the JSON
    /// API (then reloads the page, which renders the next round); without JavaScript the forms post.
    /// </summary>
    private const string Script = """
        (function () {
          var range = document.getElementById('rating'), out = document.getElementById('rating-value');
          // Show the slider's value now too: it may have been moved before this deferred script ran.
          if (range && out) { out.textContent = range.value; range.addEventListener('input', function () { out.textContent = range.value; }); }
          document.querySelectorAll('form[data-api]').forEach(function (form) {
            form.addEventListener('submit', function (e) {
              if (!window.fetch) { return; }
              e.preventDefault();
              var data = new FormData(form), body = { round: parseInt(data.get('round'), 10) };
              if (e.submitter && e.submitter.name === 'arm') { body.arm = e.submitter.value; }
              if (data.get('item_id')) { body.item_id = data.get('item_id'); body.rating = parseInt(data.get('rating'), 10); }
              fetch(form.getAttribute('data-api'), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
                .then(function (r) { if (!r.ok) { throw new Error(r.status); } window.location.reload(); })
                .catch(function () { form.submit(); });
            });
          });
        })();
        """;
}

/// <summary>Source-generated JSON for the API's most frequent reply (web defaults, as Results.Json).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(NextView))]
internal sealed partial class StudyJson : JsonSerializerContext;
