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
        await using var browser = await playwright.Chromium.LaunchPersistentContextAsync(profile, new BrowserTypeLaunchPersistentContextOptions
        {
            ExecutablePath = TestEnvironment.Chromium,
            Headless = true,
            JavaScriptEnabled = javaScript ?? true,
            Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
            Timeout = 30_000,
        });
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
