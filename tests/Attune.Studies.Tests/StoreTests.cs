namespace Attune.Studies.Tests;

/// <summary>The store's group-commit writer called directly, many writes at once (so batches hold many).</summary>
public class StoreTests
{
    [Fact]
    public Task Concurrent_ratings_and_resubmissions_keep_the_first_stored_rating_on_sqlite() =>
        ConcurrentRatings("sqlite:" + Path.Combine(TestEnvironment.TempDir(), "store.db"));

    [PostgresFact]
    public Task Concurrent_ratings_and_resubmissions_keep_the_first_stored_rating_on_postgres() =>
        PostgresSerial.Run(() => ConcurrentRatings("postgres:" + TestEnvironment.PostgresConnectionString));

    private static async Task ConcurrentRatings(string db)
    {
        var config = TestEnvironment.Demo(c => c.Conditions = [new ConditionConfig { Name = "cyclic", Slots = 100 }]);
        await using var store = await StudyStore.OpenAsync(db);
        await store.ResetAsync();
        var ids = new PlatformIds(null, null, null);
        var participants = await Task.WhenAll(Enumerable.Range(0, 60).Select(i => store.CreateParticipantAsync(config, $"token-{i}", ids, CancellationToken.None)));
        var at = new DateTimeOffset(2026, 11, 27, 12, 0, 0, TimeSpan.Zero);

        // Round 1 for everyone at once; the last 20 also complete.
        var first = await Task.WhenAll(participants.Select((p, i) =>
            store.AddRatingAsync(p!.Id, new RatingRecord(1, "a", $"item-{i}", 1 + (i % 9), at), completes: i >= 40, CancellationToken.None)));
        Assert.All(first, (r, i) => Assert.Equal(1 + (i % 9), r.Rating));

        // Resubmissions of round 1 with other ratings, mixed with fresh round-2 ratings: the stored round 1 comes back unchanged.
        var second = await Task.WhenAll(participants.Select((p, i) => i % 2 == 0
            ? store.AddRatingAsync(p!.Id, new RatingRecord(1, "b", "other", 9 - (i % 9), at.AddMinutes(1)), completes: false, CancellationToken.None)
            : store.AddRatingAsync(p!.Id, new RatingRecord(2, "b", $"item2-{i}", 5, at.AddMinutes(1)), completes: false, CancellationToken.None)));
        for (var i = 0; i < participants.Length; i++)
        {
            if (i % 2 == 0)
            {
                Assert.Equal((1, "a", $"item-{i}", 1 + (i % 9)), (second[i].Round, second[i].Arm, second[i].ItemId, second[i].Rating));
                Assert.Equal(at, second[i].SubmittedAt);
            }
            else
            {
                Assert.Equal((2, 5), (second[i].Round, second[i].Rating));
            }
        }

        var rows = await store.ExportAsync(CancellationToken.None);
        Assert.Equal(60 + 30, rows.Count);
        Assert.Equal(60, rows.Count(r => r.Round == 1 && r.Arm == "a"));
        var progress = await store.ProgressAsync(CancellationToken.None);
        Assert.Equal(20, progress.Sum(p => p.Completed));
    }
}
