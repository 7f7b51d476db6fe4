using Attune.Studies;
using Microsoft.Playwright;

namespace Attune.Studies.Tests;

/// <summary>Debian's Chromium, driven by Playwright, clicks through a whole 10-round study.</summary>
public class BrowserTests
{
    [ChromiumFact]
    public Task A_participant_clicks_through_a_ten_round_study() => ClickThrough("ucb1", null);

    [ChromiumFact]
    public Task A_self_selecting_participant_clicks_arm_buttons_then_rates() => ClickThrough("self-selected", null);

    [ChromiumFact]
    public Task Without_javascript_the_plain_forms_work() => ClickThrough("cyclic", javaScript: false);

    /// <summary>
    /// The page's script is deferred: on a slow machine a participant (or Playwright) can move the
    /// slider before it runs. Held back here until the slider was moved, the script must still show
    /// the slider's value (this raced, and failed once in CI, before the script synced it at start).
    /// </summary>
    [ChromiumFact]
    public async Task A_slider_moved_before_the_script_runs_still_shows_its_value()
    {
        var config = TestEnvironment.Demo(c =>
        {
            c.Conditions = [new ConditionConfig { Name = "cyclic", Slots = 3 }];
            c.AdminToken = RunningServer.AdminToken;
        });
        await using var server = await RunningServer.StartAsync(config);
        var profile = TestEnvironment.TempDir();
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await Launch(playwright, profile, javaScript: true);
        var page = browser.Pages.Count > 0 ? browser.Pages[0] : await browser.NewPageAsync();
        page.SetDefaultTimeout(45_000);
        await page.GotoAsync(new Uri(server.Address, "/?PROLIFIC_PID=browser02").ToString());
        await page.CheckAsync("#consent");

        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await page.RouteAsync("**/static/study.js", async route =>
        {
            await release.Task;
            await route.ContinueAsync();
        });
        await page.ClickAsync("#start");
        await Assertions.Expect(page.Locator(".progress")).ToHaveTextAsync("Round 1 of 10", new() { Timeout = 45_000 });
        await page.Locator("#rating").FillAsync("8");
        Assert.Equal("5", await page.Locator("#rating-value").InnerTextAsync()); // the script has not run yet
        release.SetResult();
        await Assertions.Expect(page.Locator("#rating-value")).ToHaveTextAsync("8", new() { Timeout = 45_000 });
        await browser.CloseAsync();
        Directory.Delete(profile, recursive: true);
    }

    private static Task<IBrowserContext> Launch(IPlaywright playwright, string profile, bool javaScript) =>
        playwright.Chromium.LaunchPersistentContextAsync(profile, new BrowserTypeLaunchPersistentContextOptions
        {
            ExecutablePath = TestEnvironment.Chromium,
            Headless = true,
            JavaScriptEnabled = javaScript,
            Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
            Timeout = 30_000,
        });

    private static async Task ClickThrough(string condition, bool? javaScript)
    {
        var config = TestEnvironment.Demo(c =>
        {
            c.Conditions = [new ConditionConfig { Name = condition, Slots = 3 }];
            c.AdminToken = RunningServer.AdminToken;
        });
        Assert.Equal(10, config.Rounds);
        await using var server = await RunningServer.StartAsync(config);
        var profile = TestEnvironment.TempDir();
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await Launch(playwright, profile, javaScript ?? true);
        var page = browser.Pages.Count > 0 ? browser.Pages[0] : await browser.NewPageAsync();
        // Generous timeouts: CI machines here are small and shared.
        page.SetDefaultTimeout(45_000);
        Assertions.SetDefaultExpectTimeout(45_000);
        await page.GotoAsync(new Uri(server.Address, "/?PROLIFIC_PID=browser01&STUDY_ID=demo&SESSION_ID=s1").ToString());
        await page.CheckAsync("#consent");
        await page.ClickAsync("#start");

        var rated = new List<int>();
        for (var round = 1; round <= config.Rounds; round++)
        {
            await Assertions.Expect(page.Locator(".progress")).ToHaveTextAsync($"Round {round} of {config.Rounds}");
            if (await page.Locator("button.arm").CountAsync() > 0)
            {
                await page.Locator("button.arm").Nth(round % 5).ClickAsync();
                await Assertions.Expect(page.Locator("#rating")).ToBeVisibleAsync();
                await Assertions.Expect(page.Locator(".progress")).ToHaveTextAsync($"Round {round} of {config.Rounds}");
            }

            var title = await page.Locator("article.item h2").InnerTextAsync();
            var rating = title == "Attention check" ? 2 : 1 + (round % 9);
            await page.Locator("#rating").FillAsync(rating.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (javaScript ?? true)
            {
                await Assertions.Expect(page.Locator("#rating-value")).ToHaveTextAsync(rating.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            await page.ClickAsync("#submit");
            rated.Add(rating);
        }

        await page.WaitForSelectorAsync("#finish");
        await page.FillAsync("textarea[name=q_comments]", "It was fun.");
        await page.FillAsync("input[name=q_overall]", "8");
        await page.ClickAsync("#finish");
        await Assertions.Expect(page.Locator("#completion-code")).ToHaveTextAsync(config.CompletionCode);

        // Reloading the page resumes at the completion page, not at the start.
        await page.ReloadAsync();
        await Assertions.Expect(page.Locator("#completion-code")).ToHaveTextAsync(config.CompletionCode);

        var rows = await server.Store.ExportAsync(default);
        Assert.Equal(config.Rounds, rows.Count);
        Assert.All(rows, r => Assert.Equal("browser01", r.ProlificPid));
        Assert.Equal(rated, rows.OrderBy(r => r.Round).Select(r => r.Rating));
        Assert.Equal(2, rows.Single(r => r.Round == 6).Rating);
        Assert.Equal(StudyEngine.AttentionArm, rows.Single(r => r.Round == 6).Arm);
        Directory.Delete(profile, recursive: true);
    }
}
